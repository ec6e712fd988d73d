"""Deployment and local tooling: the local stack (`make run`), resources from template.yaml, key hashes."""
