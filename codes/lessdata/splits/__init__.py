"""The ID hold-out and the out-of-distribution sets, serialised with checksums."""
