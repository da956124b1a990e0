"""A bad search spec is one line naming the file and key, exit 2, and no run, trial or study."""

from __future__ import annotations

import json

import pytest

from tests.conftest import TEST_PROJECT
from tests.tuning_tests.conftest import write_spec

X = {"type": "float", "low": 0.0, "high": 1.0}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"space": {"x": {**X, "low": 0.9, "high": 0.1}}}, "key 'space.x': low (0.9) must be below high (0.1)"),
        ({"space": {"x": {**X, "log": True}}}, "key 'space.x': a log scale needs low > 0, got low=0.0"),
        ({"algorithm": "annealing"}, "key 'algorithm': unknown optuna algorithm 'annealing'"),
        (
            {"space": {"x": {**X, "type": "real"}}},
            "key 'space.x': type must be float, int, categorical or fixed, got 'real'",
        ),
        ({"space": {"x": {**X, "lo": 1}}}, "key 'space.x.lo': unknown key"),
        ({"space": {"y": X}}, "key 'space.y': curve has no such config key"),
        ({"space": {"x": {**X, "high": 2.0}}}, "key 'x': Input should be less than or equal to 1, got 2.0"),
        ({"pruner": {"name": "medain"}}, "key 'pruner.name': Input should be"),
        ({"budget": {}}, "key 'budget': give n_trials or timeout"),
        ({"experiment": "nope"}, "key 'experiment': unknown experiment 'nope'"),
        ({"metric": ["score", "result"]}, "key 'direction': 2 metric(s) need as many directions"),
        ({"algorithm": "grid"}, "key 'space.x': a grid search needs a step (or choices) for every float"),
        ({"engine": "keras-tuner", "algorithm": "tpe"}, "key 'algorithm': unknown keras-tuner algorithm 'tpe'"),
        ({"space": {"x": {**X, "low": float("nan")}}}, "key 'space.x.low': Input should be a finite number"),
        ({"space": {"x": {**X, "high": float("inf")}}}, "key 'space.x.high': Input should be a finite number"),
        (
            {"algorithm": "grid", "space": {"x": {**X, "step": 1e-12}}},
            "key 'space': the grid has 1e+12 points, more than 1,000,000: use larger steps",
        ),
    ],
)
def test_bad_spec(test_project_env, tmp_path, fields, message):
    path = write_spec(tmp_path, **fields)
    result = test_project_env.cli("tune", str(path), project=TEST_PROJECT)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: {path}: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert test_project_env.database.runs.count_documents({}) == 0
    assert not (test_project_env.settings.state_dir / "optuna").exists()


def test_invalid_json_names_line_and_column(test_project_env, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"experiment": "curve",\n "metric": }')
    result = test_project_env.cli("tune", str(path), project=TEST_PROJECT)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {path}:2:12: invalid JSON: Expecting value"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--storage", "sqlite:///x.db"], "SQLite locks up and loses trials with parallel workers"),
        (["--storage", "mysql://u@h/db"], "expected postgresql://… or a journal file path"),
        (["--storage", "postgresql://nobody@127.0.0.1:9/none"], "cannot use it"),
    ],
)
def test_bad_storage(test_project_env, tmp_path, args, message):
    result = test_project_env.cli("tune", str(write_spec(tmp_path)), *args, project=TEST_PROJECT)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_gp_sampler_without_pytorch_says_how_to_get_it(test_project_env, tmp_path):
    pytest.importorskip("optuna")
    try:
        import torch  # noqa: F401
    except ImportError:
        result = test_project_env.cli("tune", str(write_spec(tmp_path, algorithm="gp")), project=TEST_PROJECT)
        assert result.returncode == 2
        assert "Optuna's GP sampler needs PyTorch" in result.stderr
        assert "-m pip install 'torch==2.13.*'" in result.stderr
    else:
        pytest.skip("PyTorch is installed: the GP sampler runs (see test_optuna_search)")


def test_shipped_specs_are_valid(tunelab_env):
    from tunelab.keras_tuner.spec import is_hypermodel_spec, load_hypermodel_spec
    from tunelab.tuning.spec import load_search_spec

    paths = sorted((tunelab_env.settings.project_dir / "configs" / "search").glob("*.json"))
    assert paths, "no search specs found"
    for path in paths:
        load = load_hypermodel_spec if is_hypermodel_spec(path) else load_search_spec
        spec = load(tunelab_env.settings, path)
        assert spec.study_name == json.loads(path.read_text()).get("study_name", path.stem)
