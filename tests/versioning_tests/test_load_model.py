"""``tunelab.load_model(REF)`` in a fresh interpreter, for each model kind; a tampered artifact is refused."""

from __future__ import annotations

import json
import textwrap

import gridfs
import pytest

pytestmark = pytest.mark.slow

LOAD = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tunelab
    model = tunelab.load_model(sys.argv[1])
    X = np.load("data/raw/breast_cancer.npy")[:, :-1] if sys.argv[2] == "cancer" else None
    print(type(model).__name__, "predicts" if X is None or len(model.predict(X[:5])) == 5 else "broken")
    """
)


def load_in_subprocess(env, ref: str, data: str = "cancer"):
    return env.python("-c", LOAD, str(ref), data, timeout=300)


def ok(done) -> str:
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


def run_id(env, experiment: str) -> int:
    return env.database.runs.find_one({"experiment.name": experiment}, sort=[("_id", -1)])["_id"]


def test_scikit_learn_keras_and_a_stack_come_back_in_a_fresh_interpreter(tunelab_env, tmp_path):
    for command in (("run", "svm"), ("run", "knn"), ("run", "mlp", "--set", "epochs=1")):
        assert tunelab_env.cli(*command, timeout=300).returncode == 0
    svm, knn, mlp = (run_id(tunelab_env, name) for name in ("svm", "knn", "mlp"))
    spec = tmp_path / "ensemble.json"
    spec.write_text(json.dumps({"base_learners": [{"runs": [svm, knn]}], "layers": [{"type": "stack", "folds": 2}]}))
    stacked = tunelab_env.cli("stack", str(spec), timeout=300)
    assert stacked.returncode == 0, stacked.stderr
    assert tunelab_env.cli("model", "register", str(knn), "--name", "cancer").returncode == 0
    assert tunelab_env.cli("model", "register", str(svm), "--name", "cancer").returncode == 0

    assert ok(load_in_subprocess(tunelab_env, svm)) == "SVC predicts"
    assert ok(load_in_subprocess(tunelab_env, "cancer@1")) == "Pipeline predicts"  # the knn experiment scales first
    assert ok(load_in_subprocess(tunelab_env, "cancer")) == "SVC predicts"
    assert ok(load_in_subprocess(tunelab_env, run_id(tunelab_env, "stack"))) == "SequentialEnsemble predicts"
    assert ok(load_in_subprocess(tunelab_env, mlp, "none")).split()[1] == "predicts"

    artifact = tunelab_env.database.runs.find_one({"_id": svm})["artifacts"][0]
    assert len(artifact["sha256"]) == 64
    chunk = tunelab_env.database["fs.chunks"].find_one({"files_id": artifact["file_id"], "n": 0})
    tampered = bytes([chunk["data"][0] ^ 1]) + chunk["data"][1:]
    tunelab_env.database["fs.chunks"].update_one({"_id": chunk["_id"]}, {"$set": {"data": tampered}})
    refused = load_in_subprocess(tunelab_env, svm)
    assert refused.returncode != 0 and "does not match its recorded sha256" in refused.stderr
    assert gridfs.GridFS(tunelab_env.database).get(artifact["file_id"]).read()[:1] == tampered[:1]


def test_unknown_references_are_one_line(tunelab_env):
    done = tunelab_env.python("-c", "import tunelab; tunelab.load_model('nothing@2')")
    assert "no model named 'nothing' is registered" in done.stderr
