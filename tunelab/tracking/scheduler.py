"""Which Airflow task made a run, read from the ``AIRFLOW_CTX_*`` variables Airflow sets for every task.

Any run started inside an Airflow task (by tunelab's DAG, or by a user's own
task calling tunelab) records ``info.airflow`` and two Omniboard tags, so a
DAG run's runs can be grouped: ``tunelab dashboard --query dag_run=ID``,
``tunelab export --query dag_run=ID``, or the tag ``dag_run:ID`` in Omniboard.
"""

from __future__ import annotations

import os

# info.airflow key -> the environment variable Airflow's task runner sets
AIRFLOW_CONTEXT = {
    "dag_id": "AIRFLOW_CTX_DAG_ID",
    "run_id": "AIRFLOW_CTX_DAG_RUN_ID",
    "task_id": "AIRFLOW_CTX_TASK_ID",
    "try_number": "AIRFLOW_CTX_TRY_NUMBER",
}


def airflow_context() -> dict[str, str]:
    """``{dag_id, run_id, task_id, try_number}`` of the Airflow task this process runs; ``{}`` outside Airflow."""
    context = {key: os.environ[name] for key, name in AIRFLOW_CONTEXT.items() if os.environ.get(name)}
    return context if "dag_id" in context and "run_id" in context else {}


def airflow_tags(context: dict[str, str]) -> list[str]:
    """The Omniboard tags of a run made in that Airflow context: ``dag:DAG_ID`` and ``dag_run:RUN_ID``."""
    return [f"dag:{context['dag_id']}", f"dag_run:{context['run_id']}"] if context else []
