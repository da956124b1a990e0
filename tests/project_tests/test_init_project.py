"""`tunelab init` from an installed wheel, then a user's own data: run, tune, stack, dashboard, dvc repro."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel_site(tmp_path_factory) -> Path:
    """tunelab built as a wheel and installed (no dependencies) in a throwaway directory."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"  # a copy, so that the build leaves nothing in the checkout
    shutil.copytree(REPO / "tunelab", source / "tunelab", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", root / "dist", source], check=True)
    (wheel,) = (root / "dist").glob("tunelab-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", root / "site", wheel], check=True)
    return root / "site"


def run(env: dict[str, str], cwd: Path, *command: str, code: int = 0) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == code, f"{command}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def test_a_project_from_the_wheel_runs_on_its_own_data(wheel_site, tunelab_env, tmp_path):
    project = tmp_path / "mine"
    env = {
        **tunelab_env.env,
        "PYTHONPATH": str(wheel_site),  # the installed wheel, not this checkout
        "TUNELAB_PROJECT_DIR": str(project),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    tunelab = [sys.executable, "-P", "-m", "tunelab"]
    run(env, tmp_path, *tunelab, "init", str(project))
    assert "analytics = false" in (project / ".dvc" / "config").read_text()
    dag_file = "dags/tunelab_pipeline.py"  # the Airflow DAG, building the project's pipeline
    assert (project / dag_file).read_text() == (REPO / dag_file).read_text()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    assert "not an empty directory" in run(env, tmp_path, *tunelab, "init", str(tmp_path / "full"), code=2)

    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    pd.DataFrame({"u": X[:, 0], "v": X[:, 1], "w": X[:, 2], "price": X @ [3.0, -2.0, 0.5] + 0.1}).to_csv(
        project / "data" / "raw" / "houses.csv", index=False
    )
    votes = {
        "voter": [f"v{i}" for i in range(len(X))],  # an id: not a feature, carried to the predictions
        "u": X[:, 0],
        "v": X[:, 1],
        "w": X[:, 2] > 0,
        "label": np.where(X[:, 0] + X[:, 1] > 0, "yes", "no"),
    }
    pd.DataFrame(votes).to_parquet(project / "data" / "raw" / "votes.parquet", index=False)  # w: a boolean feature
    run(env, project, *tunelab, "data", "add", "data/raw/houses.csv", "--name", "houses", "--target", "price")
    run(
        env,
        project,
        *tunelab,
        "data",
        "add",
        "data/raw/votes.parquet",
        "--name",
        "votes",
        "--target",
        "label",
        "--drop",
        "voter",
    )
    run(env, project, "git", "add", "-A")
    run(env, project, "git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", "my data")

    run(env, project, *tunelab, "run", "forest", "--set", "dataset=houses", "--set", "n_estimators=10")
    run(env, project, *tunelab, "run", "forest", "--set", "dataset=votes", "--set", "n_estimators=10")
    spec = json.loads((project / "configs" / "search" / "forest.json").read_text())
    spec["budget"]["n_trials"] = 3
    spec["space"]["dataset"] = "houses"
    (project / "configs" / "search" / "forest.json").write_text(json.dumps(spec))
    run(env, project, *tunelab, "tune", "configs/search/forest.json")
    run(env, project, *tunelab, "stack", "configs/ensemble/forest.json")
    assert "open" in run(env, project, *tunelab, "dashboard")

    for run_doc in tunelab_env.database.runs.find({}, {"info": 1, "status": 1}):
        assert run_doc["status"] == "COMPLETED"
        info = run_doc["info"]
        dvc_file = project / (info["data_path"] + ".dvc")
        assert info["data_version"] == yaml.safe_load(dvc_file.read_text())["outs"][0]["md5"]

    params = yaml.safe_load((project / "params.yaml").read_text())
    params["prepare"]["dataset"] = "votes"
    params["tune"]["n_trials"] = 2
    params["stack"]["folds"] = 2  # meta learner and scorer: the task's (the scaffold's are null)
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    run(env, project, "git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qam", "votes")
    run(env, project, "dvc", "repro")
    metrics = json.loads((project / "metrics.json").read_text())
    assert metrics["task"] == "classification" and 0.5 < metrics["stack"]["accuracy"] <= 1
    stack_config = tunelab_env.database.runs.find_one({"_id": metrics["stack"]["run_id"]})["config"]
    assert (stack_config["meta"], stack_config["scorer"]) == ("logistic_regression", "accuracy")
    predictions = pd.read_csv(project / "predictions" / "batch.csv")
    assert len(predictions) == metrics["test_rows"] and list(predictions.columns) == ["voter", "row", "prediction"]
    test_split = pd.read_parquet(project / "data" / "processed" / "test" / "votes.parquet")
    assert list(predictions["voter"]) == list(test_split["voter"])  # each prediction joins back to its row
    train_split = project / "data" / "processed" / "train" / "votes.parquet"
    on_split = list(tunelab_env.database.runs.find({"info.data_path": "data/processed/train/votes.parquet"}))
    assert len(on_split) >= 3  # two trials and the stack
    assert {r["info"]["data_version"] for r in on_split} == {hashlib.md5(train_split.read_bytes()).hexdigest()}
