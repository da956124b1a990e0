"""The Airflow DAG ``tunelab_pipeline`` for this project: TUNELAB_PROJECT_DIR, else the folder above this dags/."""

from __future__ import annotations

import os
from pathlib import Path

from tunelab.pipeline.airflow_dag import make_dag

dag = make_dag(Path(os.environ.get("TUNELAB_PROJECT_DIR") or Path(__file__).resolve().parents[1]))
