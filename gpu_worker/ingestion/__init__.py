"""Vector-store file ingestion: parse -> chunk -> embed -> index, driven by the ingestion queue."""
