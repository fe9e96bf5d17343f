"""Scoring a model trained on a subset: metrics, input checks and the evaluator."""
