"""Versioned datasets: content-addressed Parquet in the artifact store, with schema and profile."""
