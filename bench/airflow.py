"""Benchmark: the pipeline as an Airflow DAG against `dvc repro`, in a fresh clone of this repository.

    .venv/bin/python bench/airflow.py [--repetitions 3] [--parse-repetitions 5]

* ``airflow dags test tunelab_pipeline`` (SQLite metadata in a throwaway
  AIRFLOW_HOME) against ``dvc repro --force``, from scratch with the same
  small params (2 trials per study, 2 folds), alternated so that both see the
  same machine load;
* parsing ``dags/tunelab_pipeline.py`` (what Airflow does every 30 s)
  against importing ``airflow.sdk`` alone.

Needs the airflow extra (``scripts/setup --airflow``). Everything records to a
SecantusDB server of its own on a free port.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import print_table, repeat  # noqa: E402
from pipeline import cloned_project  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=3, help="of the from-scratch runs (~1 min each)")
    parser.add_argument("--parse-repetitions", type=int, default=5)
    args = parser.parse_args()
    with cloned_project("tunelab-bench-airflow-") as project:
        project.env.update(
            {
                "AIRFLOW_HOME": str(project.path.parent / "airflow"),
                "AIRFLOW__CORE__DAGS_FOLDER": str(project.path / "dags"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "TUNELAB_AIRFLOW_RETRIES": "0",
            }
        )
        project("airflow", "db", "migrate")
        dag, dvc = [], []
        for _ in range(args.repetitions):  # alternated: both see the same load
            dag += repeat(project.from_scratch("airflow", "dags", "test", "tunelab_pipeline"), 1)
            dvc += repeat(project.from_scratch("dvc", "repro", "--force", "-q"), 1)
        python = (sys.executable, "-c")
        parse = repeat(
            lambda: project(*python, "import runpy; runpy.run_path('dags/tunelab_pipeline.py')"),
            args.parse_repetitions,
        )
        sdk = repeat(lambda: project(*python, "import airflow.sdk"), args.parse_repetitions)
    print_table(
        "The pipeline on Airflow and on DVC, fresh clone, small params",
        [
            ("airflow dags test (all 9 tasks)", dag, dvc, "dvc repro --force (all 8 stages)"),
            ("parse dags/tunelab_pipeline.py", parse, sdk, "import airflow.sdk"),
        ],
        unit="s",
    )


if __name__ == "__main__":
    main()
