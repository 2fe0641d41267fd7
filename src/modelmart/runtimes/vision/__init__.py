"""Runtimes for the catalogue's vision models: each takes encoded images as ``image`` BYTES."""
