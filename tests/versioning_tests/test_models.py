"""`tunelab model register|list|show`: versioned model entries in the real database."""

from __future__ import annotations


def test_register_adds_versions_that_point_at_the_run(tunelab_env):
    assert tunelab_env.cli("run", "svm").returncode == 0
    assert tunelab_env.cli("run", "knn").returncode == 0
    svm, knn = (tunelab_env.database.runs.find_one({"experiment.name": name}) for name in ("svm", "knn"))
    for run in (svm, knn):
        done = tunelab_env.cli("model", "register", str(run["_id"]), "--name", "cancer")
        assert done.returncode == 0, done.stderr
    entries = list(tunelab_env.database.model_registry.find({"name": "cancer"}).sort("version", 1))
    assert [(e["version"], e["run_id"]) for e in entries] == [(1, svm["_id"]), (2, knn["_id"])]
    latest = entries[-1]
    assert latest["artifact"] == "model.joblib" and latest["file_id"] == knn["artifacts"][0]["file_id"]
    assert latest["metrics"]["test_accuracy"] == knn["result"] == latest["metrics"]["result"]
    assert latest["data_version"] == knn["info"]["data_version"] and latest["git_commit"] == knn["info"]["git_commit"]

    listed = tunelab_env.cli("model", "list").stdout
    assert "cancer" in listed and "│ 2 " in listed
    shown = tunelab_env.cli("model", "show", "cancer").stdout
    assert shown.count("│ cancer ") == 2


def test_bad_registrations_are_one_line(tunelab_env):
    done = tunelab_env.cli("model", "register", "999", "--name", "x")
    assert (done.returncode, done.stderr) == (2, "error: run 999 does not exist\n")
    done = tunelab_env.cli("model", "show", "nothing")
    assert (done.returncode, done.stderr) == (2, "error: no model named 'nothing' is registered (known: none)\n")
