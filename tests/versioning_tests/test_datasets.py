"""The data sets are DVC-tracked files; a run's data version is the md5 DVC records for the file."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import REPO
from tunelab.data import GENERATORS, load_dataset, write_raw
from tunelab.errors import TunelabError
from tunelab.settings import load_settings

DATA = REPO / "data" / "raw"


def dvc_manifest() -> dict[str, str]:
    """relpath -> md5 of every file in the DVC-tracked data directory (from DVC's own records)."""
    entry = yaml.safe_load((REPO / "data.dvc").read_text())["outs"][0]
    digest = entry["md5"].removesuffix(".dir")
    listing = REPO / "dvc-storage" / "files" / "md5" / digest[:2] / (digest[2:] + ".dir")
    return {item["relpath"]: item["md5"] for item in json.loads(listing.read_text())}


def test_data_version_is_dvcs_md5():
    manifest = dvc_manifest()
    for name in (*GENERATORS, "diabetes"):
        data = load_dataset(name, load_settings(REPO))
        assert data.version == manifest[data.path.name]


def test_writing_the_files_again_gives_the_tracked_bytes(tmp_path):
    for path in write_raw(tmp_path):
        assert (DATA / path.name).read_bytes() == path.read_bytes()


def test_the_data_matches_what_scikit_learn_ships():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    digits = load_dataset("digits", load_settings(REPO))
    assert (digits.X == X).all() and (digits.y == y).all() and digits.y.dtype.kind == "i"


def test_missing_file_says_dvc_pull(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNELAB_DATA_DIR", str(tmp_path))
    with pytest.raises(TunelabError, match=r"digits.npy: data set missing; fetch the tracked data with `dvc pull`"):
        load_dataset("digits", load_settings(REPO))


def not_cached() -> set[str]:
    """The pipeline outputs declared ``cache: false``: metrics and plots (git tracks them) and the dashboards."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"].values()
    entries = [entry for stage in stages for kind in ("outs", "metrics", "plots") for entry in stage.get(kind, [])]
    return {
        path
        for entry in entries
        if isinstance(entry, dict)
        for path, options in entry.items()
        if not options.get("cache", True)
    }


def test_every_output_in_dvc_lock_is_in_the_default_remote():
    """A fresh clone's `dvc pull` (which scripts/setup runs) fetches everything dvc.lock names."""
    storage = REPO / "dvc-storage" / "files" / "md5"
    lock = yaml.safe_load((REPO / "dvc.lock").read_text())
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            if out["path"] in not_cached():
                continue
            digest = out["md5"]
            if digest.endswith(".dir"):
                listing = storage / digest[:2] / digest[2:]
                assert listing.is_file(), f"{out['path']}: run `dvc push`"
                digests = [item["md5"] for item in json.loads(listing.read_text())]
            else:
                digests = [digest]
            for md5 in digests:
                assert (storage / md5[:2] / md5[2:]).is_file(), f"{out['path']}: run `dvc push`"
