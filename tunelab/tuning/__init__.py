"""Searches: Optuna and Keras Tuner driven from JSON search specs, every trial a tracked Sacred run."""
