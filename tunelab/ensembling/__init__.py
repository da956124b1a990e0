"""Ensembles of the best learners with ML-Ensemble (mlens), made to work on today's NumPy and scikit-learn.

Importing this package applies :mod:`~tunelab.ensembling.mlens_compat`, so an
ensemble can be unpickled (``joblib.load``) right after ``import tunelab.ensembling``.
"""

from tunelab.ensembling import mlens_compat

mlens_compat.apply()
