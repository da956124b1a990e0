"""Versions of what runs make: the model registry and re-created runs (repro)."""
