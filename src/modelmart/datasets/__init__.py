"""Datasets: uploads validated into immutable, content-addressed versions that training reads."""
