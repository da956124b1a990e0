"""`tunelab stack` against the real database: picking runs, the stack run's record, bad input."""

from __future__ import annotations

import json

import pytest

from tunelab.ensembling.sources import select_runs
from tunelab.ensembling.spec import EnsembleSpec


@pytest.fixture
def svm_study(tunelab_env, tmp_path):
    """A 5-trial random search over the SVM (about 10 s)."""
    spec = json.loads((tunelab_env.settings.project_dir / "configs" / "search" / "svm.json").read_text())
    spec.update(study_name="svm-small", algorithm="random", algorithm_options={}, budget={"n_trials": 5})
    path = tmp_path / "svm_small.json"
    path.write_text(json.dumps(spec))
    assert tunelab_env.cli("tune", str(path)).returncode == 0
    return "svm-small"


def write(tmp_path, **spec) -> str:
    path = tmp_path / "ensemble.json"
    path.write_text(json.dumps(spec))
    return str(path)


def test_top_k_picks_the_best_complete_trials(tunelab_env, svm_study):
    runs = tunelab_env.database.runs.find({"info.study": svm_study, "status": "COMPLETED"})
    expected = [r["_id"] for r in sorted(runs, key=lambda r: (-r["result"], r["info"]["trial"]))][:3]
    spec = EnsembleSpec.model_validate({"base_learners": [{"study": svm_study, "top": 3}]})
    picked = select_runs(tunelab_env.settings, spec, "spec")
    assert [p.run_id for p in picked] == expected
    assert all(p.experiment == "svm" and p.dataset == "breast_cancer" for p in picked)


@pytest.mark.slow
def test_a_stack_run_links_back_to_its_sources(tunelab_env, svm_study, tmp_path):
    extra = tunelab_env.cli("run", "logistic_regression")
    extra_id = tunelab_env.database.runs.find_one({"experiment.name": "logistic_regression"})["_id"]
    assert extra.returncode == 0
    spec = write(
        tmp_path,
        base_learners=[{"study": svm_study, "top": 2}, {"runs": [extra_id]}],
        layers=[{"type": "stack", "folds": 2}],
        meta=["logistic_regression", "naive_bayes"],
        n_jobs=1,
    )
    result = tunelab_env.cli("stack", spec, "--select-meta", timeout=300)
    assert result.returncode == 0, result.stderr
    run = tunelab_env.database.runs.find_one({"experiment.name": "stack"})
    assert run["status"] == "COMPLETED"
    info = run["info"]
    assert extra_id in info["source_runs"] and len(info["source_runs"]) == 3
    for source in info["source_runs"]:
        assert tunelab_env.database.runs.find_one({"_id": source})["status"] == "COMPLETED"
        assert any(f"run{source}-" in row for row in info["ensemble_data"])
    assert set(info["held_out"]["base"]) == {
        f"run{s}-{'svm' if s != extra_id else 'logistic_regression'}" for s in info["source_runs"]
    }
    assert info["meta_learner"] in ("logistic_regression", "naive_bayes") and len(info["meta_selection"]) == 2
    assert [a["name"] for a in run["artifacts"]] == ["ensemble.joblib"]
    assert run["result"] == pytest.approx(info["held_out"]["ensemble"])
    beats = info["held_out"]["ensemble"] > max(info["held_out"]["base"].values())
    assert info["verdict"] == (
        "ensemble beats the best single learner" if beats else "ensemble does not beat the best single learner"
    )
    assert info["verdict"] in result.stdout


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"base_learners": [{"study": "nope", "top": 1}]}, "key 'base_learners.0': no study 'nope'"),
        (
            {"base_learners": [{"study": "svm-small", "top": 50}]},
            "top 50 asked, but study 'svm-small' has 5 complete trial(s)",
        ),
        (
            {"base_learners": [{"runs": [1]}], "layers": [{"type": "pile"}]},
            "key 'layers.0.type': Input should be 'stack', 'blend' or 'subset', got 'pile'",
        ),
        ({"base_learners": [{"runs": [999]}]}, "run 999 does not exist"),
        ({"base_learners": [{"runs": [1]}], "meta": "oracle"}, "key 'meta'"),
    ],
)
def test_bad_input_is_one_line(tunelab_env, svm_study, tmp_path, spec, message):
    result = tunelab_env.cli("stack", write(tmp_path, **spec))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert tunelab_env.database.runs.count_documents({"experiment.name": "stack"}) == 0


def test_a_learner_that_cannot_be_rebuilt(tunelab_env, tmp_path):
    tunelab_env.database.runs.insert_one(
        {"_id": 1, "experiment": {"name": "mlp"}, "status": "COMPLETED", "config": {}, "info": {"dataset": "digits"}}
    )
    result = tunelab_env.cli("stack", write(tmp_path, base_learners=[{"runs": [1]}]))
    assert result.returncode == 2
    assert "run 1: experiment 'mlp' cannot rebuild its learner (it defines no make_estimator)" in result.stderr
