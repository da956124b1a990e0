"""tunelab: experiment tracking and hyperparameter tuning workbench."""

import warnings

# Sacred 0.8.7 imports pkg_resources, which setuptools >= 67 warns about on every start.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
