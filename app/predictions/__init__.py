"""The prediction log (Parquet segments in the artifact store, indexed in the database) and the
feedback that attaches ground truth to logged predictions."""
