"""`tunelab repro RUN_ID` in a copy of the project: identical results, code and data checks, --checkout."""

from __future__ import annotations

import numpy as np
import pytest


def svm_run(clone) -> int:
    clone.ok("tunelab", "run", "svm", "--set", "C=3.0")
    return clone.tunelab.database.runs.find_one({"experiment.name": "svm"}, sort=[("_id", -1)])["_id"]


def test_a_deterministic_run_is_reproduced_exactly_and_linked(project_clone):
    run_id = svm_run(project_clone)
    out = project_clone.ok("tunelab", "repro", str(run_id))
    runs = project_clone.tunelab.database.runs
    original = runs.find_one({"_id": run_id})
    copy = runs.find_one({"info.reproduces": run_id})
    assert copy["result"] == original["result"] and copy["config"] == original["config"]
    assert copy["info"]["data_version"] == original["info"]["data_version"]
    assert copy["info"]["git_commit"] == original["info"]["git_commit"]
    assert f"run {copy['_id']} reproduces run {run_id}: identical result" in out


OBJECTIVE = """
from sklearn.model_selection import cross_val_score
from sklearn.svm import SVC


def fit(trial):
    data = trial.run.load_data("breast_cancer")
    kind = trial.suggest_categorical("kernel", ["linear", "rbf"])
    C = trial.suggest_float("C", 0.1, 10.0, log=True) if kind == "rbf" else 1.0
    return float(cross_val_score(SVC(kernel=kind, C=C), data.X[:200], data.y[:200], cv=3).mean())
"""


def test_a_trial_of_an_objective_is_reproduced_by_calling_it_again(project_clone):
    """Outside any study: the same parameters, data version and commit, and the same result."""
    (project_clone.path / "objectives.py").write_text(OBJECTIVE)
    project_clone.ok("git", "add", "objectives.py")
    project_clone.commit("an objective")
    project_clone.ok("tunelab", "tune", "objectives.py:fit", "--study", "o", "--n-trials", "3", "--seed", "2")
    runs = project_clone.tunelab.database.runs
    original = runs.find_one({"info.study": "o", "info.trial": 2})
    out = project_clone.ok("tunelab", "repro", str(original["_id"]))
    copy = runs.find_one({"info.reproduces": original["_id"]})
    assert copy["result"] == original["result"] and copy["config"] == original["config"]
    assert copy["info"]["data_version"] == original["info"]["data_version"]
    assert copy["info"]["git_commit"] == original["info"]["git_commit"]
    assert "study" not in copy["info"] and "trial" not in copy["info"]  # in no study
    assert f"run {copy['_id']} reproduces run {original['_id']}: identical result" in out

    # the database is untrusted input: a run naming a file git does not track never gets it imported
    (project_clone.path / "scratch.py").write_text(OBJECTIVE + "\nraise SystemExit('imported')\n")
    runs.update_one({"_id": original["_id"]}, {"$set": {"info.objective_function": "scratch.py:fit"}})
    refused = project_clone.run("tunelab", "repro", str(original["_id"]))
    assert refused.returncode == 2 and "is not a file of the project's git repository" in refused.stderr


def test_a_dirty_tree_is_reported_not_used(project_clone):
    run_id = svm_run(project_clone)
    with (project_clone.path / "experiments" / "svm.py").open("a") as handle:
        handle.write("# an uncommitted change\n")
    done = project_clone.run("tunelab", "repro", str(run_id))
    assert done.returncode == 2
    assert "uncommitted changes (experiments/svm.py)" in done.stderr and len(done.stderr.splitlines()) == 1
    assert project_clone.tunelab.database.runs.count_documents({}) == 1


@pytest.mark.slow
def test_another_commit_is_named_and_checkout_reproduces_in_a_worktree(project_clone):
    # The worktree holds the commit's copy of the tunelab package; the installed one must run.
    (project_clone.path / "tunelab" / "__init__.py").write_text('raise ImportError("the worktree\'s tunelab")\n')
    project_clone.commit("a copy of tunelab that must not be imported")
    run_id = svm_run(project_clone)
    first = project_clone.ok("git", "rev-parse", "HEAD").strip()
    experiment = project_clone.path / "experiments" / "svm.py"
    experiment.write_text(experiment.read_text().replace("machine(C=C,", "machine(C=C / 100,"))
    project_clone.commit("a different learner")

    done = project_clone.run("tunelab", "repro", str(run_id))
    assert done.returncode == 2 and f"`git checkout {first[:12]}`" in done.stderr

    out = project_clone.ok("tunelab", "repro", str(run_id), "--checkout")
    copy = project_clone.tunelab.database.runs.find_one({"info.reproduces": run_id})
    assert "identical result" in out and copy["info"]["git_commit"] == first[:12]
    assert project_clone.ok("git", "worktree", "list").count("\n") == 1  # the temporary worktree is gone


def test_data_that_is_neither_cached_nor_in_a_remote_is_one_line(project_clone):
    data = project_clone.path / "data" / "raw" / "breast_cancer.npy"
    table = np.load(data)
    np.save(data, table[:400])  # a data version DVC never saw
    run_id = svm_run(project_clone)
    project_clone.ok("dvc", "checkout", "--force", "data.dvc")

    for args in ((), ("--checkout",)):
        done = project_clone.run("tunelab", "repro", str(run_id), *args)
        assert done.returncode == 2
        assert done.stderr.splitlines() == [
            f"error: run {run_id} read data/raw/breast_cancer.npy version "
            f"{project_clone.tunelab.database.runs.find_one({'_id': run_id})['info']['data_version']}, which is in "
            "neither the DVC cache nor a remote (.dvc/cache, dvc-storage): it cannot be reproduced"
        ]


def test_unknown_run(project_clone):
    done = project_clone.run("tunelab", "repro", "999")
    assert (done.returncode, done.stderr) == (2, "error: run 999 does not exist\n")
