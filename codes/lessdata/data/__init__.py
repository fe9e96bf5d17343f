"""Datasets: the registry, the embedded builds, loading and cleaning, users' tables and structures."""
