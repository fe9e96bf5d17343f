"""Featurization: matminer's descriptors (compositions, structures) with a checkpointed, shared-tessellation
store."""
