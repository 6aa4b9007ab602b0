"""Rollouts: canary, blue-green, shadow and A/B strategies and their automatic analysis."""
