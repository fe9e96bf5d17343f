"""Choosing training sets: pruning, query strategies, subset samplers and the registry of methods."""
