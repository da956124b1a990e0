"""Config files and overrides: parsing and validation messages (pure helpers, no database)."""

from __future__ import annotations

from typing import Literal

import pytest

from tunelab.errors import TunelabError
from tunelab.tracking.config import ExperimentConfig, load_config, parse_overrides, validate


class Schema(ExperimentConfig):
    C: float
    kernel: Literal["rbf", "linear"]


def test_invalid_json_names_file_line_and_column(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{\n  "C": 1.0,\n  "kernel": rbf\n}')
    with pytest.raises(TunelabError, match=r"bad\.json:3:13: invalid JSON"):
        load_config(path)


def test_missing_file_and_non_object(tmp_path):
    with pytest.raises(TunelabError, match="config file not found"):
        load_config(tmp_path / "nope.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(TunelabError, match="must be a JSON object, got list"):
        load_config(tmp_path / "list.json")


def test_overrides_parse_like_sacred():
    assert parse_overrides(["C=2.0", "kernel=rbf", "n=3", "flag=true", "x=None", "a.b=1"]) == {
        "C": 2.0,
        "kernel": "rbf",
        "n": 3,
        "flag": True,
        "x": None,
        "a": {"b": 1},
    }


@pytest.mark.parametrize("bad", ["C", "=1", "C x=1", "1a=2"])
def test_bad_override_syntax(bad):
    with pytest.raises(TunelabError, match="expected KEY=VALUE"):
        parse_overrides([bad])


def test_errors_name_the_source_and_key():
    defaults = {"C": 1.0, "kernel": "rbf", "seed": 1}
    with pytest.raises(TunelabError, match=r"^my\.json: key 'Cx': unknown config key"):
        validate(Schema, {"defaults.json": defaults, "my.json": {"Cx": 2}})
    with pytest.raises(TunelabError, match=r"^--set C=x: key 'C': Input should be a valid number, got 'x'"):
        validate(Schema, {"defaults.json": defaults, "--set C=x": {"C": "x"}})
    with pytest.raises(TunelabError, match=r"^my\.json: key 'kernel': Input should be 'rbf' or 'linear'"):
        validate(Schema, {"defaults.json": defaults, "my.json": {"kernel": "poly"}})


def test_later_sources_win_and_ints_pass_as_floats():
    merged = validate(Schema, {"a": {"C": 1.0, "kernel": "rbf", "seed": 1}, "b": {"C": 3}})
    assert merged == {"C": 3, "kernel": "rbf", "seed": 1}
