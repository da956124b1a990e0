"""Ensembles of the best learners with ML-Ensemble (mlens), made to work on today's NumPy and scikit-learn."""
