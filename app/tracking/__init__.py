"""Experiment tracking: experiments, runs, params, metrics, tags and run artifacts."""
