"""tunelab: experiment tracking and hyperparameter tuning workbench."""
