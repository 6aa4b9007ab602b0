"""Deployments: named prediction endpoints, their revisions and rollouts."""
