"""Training and evaluation jobs: spec checks at submit time, and the job handlers."""
