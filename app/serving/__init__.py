"""Prediction serving: the in-memory route tables, the model cache and the predict hot path."""
