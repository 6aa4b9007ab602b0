"""Retraining: the `retrain` job that trains a deployment's model again, gates it and rolls it out."""
