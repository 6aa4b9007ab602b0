"""The model registry: registered models, numbered versions with safe artifacts, aliases, lineage."""
