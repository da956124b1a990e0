"""`ex.load_data` (load_dataset) of a generated 100 MB CSV against `pandas.read_csv` of the same file.

The first load hashes the file (DVC's md5, the data version); later loads find
the md5 in the cache (by size and mtime) and must not hash again. Target: a
cached load within 1.2x of pandas.read_csv. Run: .venv/bin/python bench/data.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _bench import print_table, repeat  # noqa: E402

from tunelab.data import load_dataset  # noqa: E402
from tunelab.data.declarations import DataSpec, declare  # noqa: E402
from tunelab.settings import load_settings  # noqa: E402

REPETITIONS = 5
COLUMNS = 20


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        os.environ["TUNELAB_PROJECT_DIR"] = tmp
        os.environ.pop("TUNELAB_DATA_DIR", None)
        (project / "tunelab.toml").write_text("")
        rows = 100 * 2**20 // (COLUMNS * 19)  # about 19 bytes a value
        rng = np.random.default_rng(0)
        frame = pd.DataFrame(rng.normal(size=(rows, COLUMNS)), columns=[f"f{i}" for i in range(COLUMNS)])
        frame["y"] = rng.normal(size=rows)
        path = project / "big.csv"
        frame.to_csv(path, index=False)
        del frame
        settings = load_settings(project)
        declare(settings, DataSpec("big", "big.csv", "y", "regression"))
        size_mb = path.stat().st_size / 2**20

        md5_cache = settings.state_dir / "data-md5.json"

        def first_load() -> None:  # the md5 is not cached yet: the file is hashed
            md5_cache.unlink(missing_ok=True)
            load_dataset("big", settings)

        first = repeat(first_load, REPETITIONS)
        cached = repeat(lambda: load_dataset("big", settings), REPETITIONS)
        baseline = repeat(lambda: pd.read_csv(path), REPETITIONS)
        print_table(
            f"load_data of a {size_mb:.0f} MB CSV ({rows} rows x {COLUMNS + 1} columns)",
            [
                ("load_data, first (hashes the md5)", first, baseline, "pandas.read_csv"),
                ("load_data, md5 cached", cached, baseline, "pandas.read_csv"),
            ],
            unit="s",
        )


if __name__ == "__main__":
    main()
