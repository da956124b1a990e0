"""`tunelab dashboard`, `compare` and `export` against a real database holding demo runs, studies and a stack."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser

import pandas as pd
import pytest

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class BalanceChecker(HTMLParser):
    """Fails on an end tag that closes nothing open, or an element left open."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.doctype = False

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl.lower() == "doctype html"

    def handle_starttag(self, tag, attrs) -> None:
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()


def assert_valid_html(text: str) -> None:
    checker = BalanceChecker()
    checker.feed(text)
    checker.close()
    assert checker.doctype and checker.open == [], checker.open


@pytest.fixture(scope="module")
def site(records, tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    done = records.cli("dashboard", "--out", str(out), timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(f"open {(out / 'index.html').as_uri()}")
    return out


def expected_pages(records) -> set[str]:
    runs = records.database.runs
    names = {f"experiment-{n}.html" for n in runs.distinct("experiment.name")}
    names |= {f"study-{s}.html" for s in runs.distinct("info.study")}
    names |= {f"stack-{r['_id']}.html" for r in runs.find({"experiment.name": "stack"}, {"_id": 1})}
    return names | {"index.html"}


def test_every_page_is_written_valid_and_offline(records, site):
    pages = {p.name for p in site.glob("*.html")}
    assert pages == expected_pages(records)
    assert {"study-svm-demo.html", "study-boosting-demo.html", "experiment-stack.html"} <= pages
    for page in site.glob("*.html"):
        text = page.read_text()
        assert_valid_html(text)
        assert not re.search(r"""<script[^>]+src=["']?(https?:)?//""", text), (
            f"{page.name} loads a script from the network"
        )
    assert (site / "plotly.min.js").stat().st_size > 1_000_000


@pytest.mark.slow
def test_pages_load_in_chromium_with_the_expected_runs_and_traces(records, site, chromium):
    runs = records.database.runs
    for page in sorted(site.glob("*.html")):
        browsed = chromium(page.as_uri(), "--dump-dom")
        assert browsed.console == [], f"{page.name}: {browsed.console}"
        counts = [int(n) for n in re.findall(r'data-rows="(\d+)"', browsed.dom)]
        if page.name == "index.html":
            assert counts == [len(runs.distinct("experiment.name")), 2, 1]
        elif page.name.startswith("experiment-"):
            name = page.name.removeprefix("experiment-").removesuffix(".html")
            assert counts == [runs.count_documents({"experiment.name": name})]
        elif page.name.startswith("study-"):
            name = page.name.removeprefix("study-").removesuffix(".html")
            assert counts == [runs.count_documents({"info.study": name})]

    boosting = chromium((site / "experiment-gradient_boosting.html").as_uri(), "--dump-dom").dom
    finished = [
        r for r in runs.find({"experiment.name": "gradient_boosting"}, {"result": 1}) if r.get("result") is not None
    ]
    scored = sorted(finished, key=lambda r: -r["result"])[:10]
    curves = records.database.metrics.count_documents({"run_id": {"$in": [r["_id"] for r in scored]}})
    assert boosting.count('class="trace scatter') == curves >= 4  # one trace per run and metric

    study = chromium((site / "study-boosting-demo.html").as_uri(), "--dump-dom").dom
    assert "parallel coordinates" in study and study.count('class="trace bars') >= 1  # the budget per trial


def test_a_query_restricts_every_page(records, tmp_path):
    done = records.cli("dashboard", "--out", str(tmp_path), "--query", "experiment=svm", "--where", "config.C>1")
    assert done.returncode == 0, done.stderr
    matching = records.database.runs.count_documents({"experiment.name": "svm", "config.C": {"$gt": 1}})
    assert f"<p>{matching} runs matching" in (tmp_path / "index.html").read_text()
    assert {p.name for p in tmp_path.glob("experiment-*.html")} == {"experiment-svm.html"}


def test_compare_lists_exactly_the_differing_keys(records, tmp_path):
    runs = records.database.runs
    first, second = (
        runs.find_one({"experiment.name": "svm", "info.study": {"$exists": False}, "config.kernel": k})
        for k in ("rbf", "linear")
    )
    differing = sorted(k for k in first["config"] if first["config"][k] != second["config"][k])
    page = tmp_path / "compare.html"
    done = records.cli("compare", str(first["_id"]), str(second["_id"]), "--html", str(page))
    assert done.returncode == 0, done.stderr
    listed = sorted(re.findall(r"│ config\.(\S+) ", done.stdout))
    assert listed == differing and differing
    text = page.read_text()
    assert_valid_html(text)
    assert re.findall(r'<tr class="differs"><th>config\.([^<]+)</th>', text) == differing
    assert "plotly" in text and "<script src=" not in text  # plotly.js inlined: one self-contained file


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_round_trips_through_pandas(records, fmt):
    done = records.cli("export", "--format", fmt, "--query", "experiment=svm")
    assert done.returncode == 0, done.stderr
    frame = pd.read_csv(io.StringIO(done.stdout)) if fmt == "csv" else pd.read_json(io.StringIO(done.stdout))
    runs = {r["_id"]: r for r in records.database.runs.find({"experiment.name": "svm"})}
    assert sorted(frame["run_id"]) == sorted(runs)
    for row in frame.to_dict("records"):
        run = runs[row["run_id"]]
        assert row["config.C"] == pytest.approx(run["config"]["C"]) and row["config.kernel"] == run["config"]["kernel"]
        assert row["metrics.test_accuracy.last"] == pytest.approx(run["info"]["summary"]["test_accuracy"]["last"])
        assert row["status"] == run["status"] and row["data_version"] == run["info"]["data_version"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["dashboard", "--where", "config.C"], "error: query term 'config.C': expected FIELD OP VALUE"),
        (["export", "--query", "colour=red"], "error: query term 'colour=red': unknown field 'colour'"),
        (["export", "--format", "xml"], "error: --format xml: expected csv or json"),
        (["compare", "1", "99999"], "error: run 99999 does not exist"),
        (["compare", "1"], "error: compare needs at least two run ids"),
    ],
)
def test_bad_input_is_one_line(records, args, message):
    done = records.cli(*args)
    assert done.returncode == 2 and done.stderr.startswith(message) and len(done.stderr.splitlines()) == 1, done.stderr
