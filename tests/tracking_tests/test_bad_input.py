"""Every user mistake: one line on stderr, exit 2, nothing in the database."""

from __future__ import annotations

import pytest


@pytest.fixture
def bad_json(tmp_path):
    path = tmp_path / "svm_bad.json"
    path.write_text('{\n  "C": 1.0,\n}')
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "svm", "--config", "nope.json"], "nope.json: config file not found"),
        (["run", "svm", "--config", "{bad_json}"], "svm_bad.json:3:1: invalid JSON"),
        (["run", "svmx"], "unknown experiment 'svmx'"),
        (["run", "svm", "--set", "Cx=1"], "--set Cx=1: key 'Cx': unknown config key"),
        (["run", "svm", "--set", "C=abc"], "--set C=abc: key 'C': Input should be a valid number"),
        (["run", "svm", "--set", "kernel=cubic"], "key 'kernel': Input should be"),
        (["run", "svm", "--set", "C"], "--set 'C': expected KEY=VALUE"),
        (["batch", "configs/svm.json", "{bad_json}"], "svm_bad.json:3:1: invalid JSON"),
        (["batch", "pyproject.toml"], "cannot tell which experiment"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tunelab_env, bad_json, args, message):
    result = tunelab_env.cli(*[a.format(bad_json=bad_json) for a in args])
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert tunelab_env.database.runs.count_documents({}) == 0


def test_unreachable_database_fails_before_training(tunelab_env):
    env = {**tunelab_env.env, "TUNELAB_MONGO_URL": "mongodb://127.0.0.1:9"}
    tunelab_env.env = env
    for args in (["run", "svm"], ["batch", "configs/batch/svm_c10.json"]):
        result = tunelab_env.cli(*args)
        assert result.returncode == 2
        assert result.stderr.startswith("error: cannot reach MongoDB at mongodb://127.0.0.1:9")
        assert len(result.stderr.strip().splitlines()) == 1
