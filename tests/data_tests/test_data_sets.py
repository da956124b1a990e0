"""Declared data sets: `tunelab data add`, what `load_data` returns, its md5 cache, and every bad input."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tunelab.data import add_dataset, declarations, load_dataset
from tunelab.data import versions as versions_module
from tunelab.data.datasets import infer_task
from tunelab.errors import TunelabError
from tunelab.settings import load_settings


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """An empty git + DVC project with a tunelab.toml."""
    monkeypatch.delenv("TUNELAB_PROJECT_DIR", raising=False)
    monkeypatch.delenv("TUNELAB_DATA_DIR", raising=False)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "tunelab.toml").write_text("[database]\nname = 'x'\n")
    (tmp_path / "data").mkdir()
    return tmp_path


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {"id": np.arange(40), "a": rng.normal(size=40), "b": rng.integers(0, 5, 40), "y": rng.normal(size=40)}
    )


def test_a_csv_is_tracked_declared_and_loaded_with_dvcs_md5(project):
    frame().to_csv(project / "data" / "r.csv", index=False)
    settings = load_settings(project)
    spec = add_dataset(settings, project / "data" / "r.csv", "r", "y", drop=("id",))
    assert spec.task == "regression"  # inferred from a fractional target
    assert infer_task(pd.Series(np.arange(100) * 3.0)) == "regression"  # whole numbers, but 100 of them: a quantity
    assert infer_task(pd.Series([0, 1, 2] * 30)) == infer_task(pd.Series(["no", "yes"] * 9)) == "classification"
    assert declarations(settings)["r"] == spec
    data = load_dataset("r", settings)
    dvc_md5 = yaml.safe_load((project / "data" / "r.csv.dvc").read_text())["outs"][0]["md5"]
    assert data.version == dvc_md5 == hashlib.md5((project / "data" / "r.csv").read_bytes()).hexdigest()
    assert data.columns == ("a", "b") and data.X.shape == (40, 2) and data.y.dtype == np.float64
    assert list(data.frame.columns) == ["a", "b"] and data.task == "regression" and data.path == project / "data/r.csv"


def test_parquet_classification_and_npy(project):
    table = frame().assign(y=lambda f: np.where(f["a"] > 0, "pos", "neg"))
    table.to_parquet(project / "data" / "c.parquet", index=False)
    np.save(project / "data" / "n.npy", np.column_stack([np.ones((5, 2)), np.arange(5)]))
    settings = load_settings(project)
    assert add_dataset(settings, project / "data" / "c.parquet", "c", "y").task == "classification"
    add_dataset(settings, project / "data" / "n.npy", "n", "c2", "classification")
    c = load_dataset("c", settings)
    assert c.classes == ("neg", "pos") and set(c.y) == {0, 1} and c.columns == ("id", "a", "b")
    assert [c.classes[i] for i in c.y] == table["y"].tolist()
    n = load_dataset("n", settings)
    assert n.columns == ("c0", "c1") and n.y.tolist() == [0, 1, 2, 3, 4]


def test_the_md5_is_cached_by_size_and_mtime(project, monkeypatch):
    frame().to_csv(project / "data" / "r.csv", index=False)
    settings = load_settings(project)
    add_dataset(settings, project / "data" / "r.csv", "r", "y")
    first = load_dataset("r", settings).version

    def no_hashing(*args):
        raise AssertionError("re-hashed an unchanged file")

    monkeypatch.setattr(versions_module.hashlib, "md5", no_hashing)
    assert load_dataset("r", settings).version == first
    monkeypatch.undo()
    frame().head(10).to_csv(project / "data" / "r.csv", index=False)
    assert load_dataset("r", settings).version == hashlib.md5((project / "data" / "r.csv").read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("name", "table", "target", "task", "drop", "message"),
    [
        ("missing", None, "y", None, (), r"missing\.csv: no such file"),
        ("text", None, "y", None, (), r"text\.txt: unsupported file type '\.txt'"),
        ("bad_target", frame(), "nope", None, (), r"bad_target\.csv: no column 'nope' \(columns: id, a, b, y\)"),
        ("bad_drop", frame(), "y", None, ("zz",), r"bad_drop\.csv: no column 'zz'"),
        ("nan", frame().assign(y=[np.nan] * 3 + [1.0] * 37), "y", None, (), r"nan\.csv: column 'y': the target has 3"),
        (
            "words",
            frame().assign(y="w"),
            "y",
            "regression",
            (),
            r"words\.csv: column 'y': regression needs a numeric target",
        ),
        ("frac", frame(), "y", "classification", (), r"frac\.csv: column 'y': classification needs class labels"),
        ("cat", frame().assign(a="red"), "y", None, (), r"cat\.csv: column 'a': a categorical or text feature"),
        ("header", frame().iloc[:0], "y", None, (), r"header\.csv: no rows"),
    ],
)
def test_bad_input_is_one_line_naming_file_and_column(project, name, table, target, task, drop, message):
    suffix = ".txt" if name == "text" else ".csv"
    path = project / "data" / f"{name}{suffix}"
    if table is not None:
        table.to_csv(path, index=False)
    elif name == "text":
        path.write_text("x")
    with pytest.raises(TunelabError, match=message) as caught:
        add_dataset(load_settings(project), path, name, target, task, drop)
    assert "\n" not in str(caught.value)
    assert "[data." not in (project / "tunelab.toml").read_text()  # nothing declared


def test_a_name_is_declared_once_and_unknown_names_list_the_known(project):
    frame().to_csv(project / "data" / "r.csv", index=False)
    settings = load_settings(project)
    add_dataset(settings, project / "data" / "r.csv", "r", "y")
    with pytest.raises(TunelabError, match="data set 'r' is already declared"):
        add_dataset(settings, project / "data" / "r.csv", "r", "y")
    with pytest.raises(TunelabError, match=r"unknown data set 'q' \(known: r\)"):
        load_dataset("q", settings)


def test_the_cli_says_error_and_exits_2(project):
    frame().assign(a="red").to_csv(project / "data" / "cat.csv", index=False)
    done = subprocess.run(
        [sys.executable, "-m", "tunelab", "data", "add", "data/cat.csv", "--name", "cat", "--target", "y"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: ") and "column 'a'" in done.stderr and "Traceback" not in done.stderr
