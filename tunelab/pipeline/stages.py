"""The stages of the DVC pipeline in ``dvc.yaml``: prepare → train | tune → stack → evaluate → transform → register.

Each stage reads its section of ``params.yaml``, writes exactly the outputs
``dvc.yaml`` declares for it, and leaves deciding what to re-run to DVC.
Stages that fit models do it as tracked Sacred runs on the training split
(``data/processed/train``); only ``evaluate`` reads the held-out test split.
``tune.enabled`` picks the branch: the stage not chosen writes a "skipped"
record, so its outputs exist and DVC stays content.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import joblib
import numpy as np
from pydantic import Field

from tunelab import db
from tunelab.dashboards.runs import best_first
from tunelab.data.datasets import load_dataset, split_columns
from tunelab.data.declarations import declaration
from tunelab.data.tables import read_table, write_table
from tunelab.ensembling import mlens_compat
from tunelab.ensembling.runs import run_stack
from tunelab.ensembling.spec import NAMED_LEARNERS, SCORERS, EnsembleSpec, Layer, RunSource
from tunelab.errors import TunelabError
from tunelab.pipeline import STAGE_NAMES
from tunelab.scores import SCORES, task_scores
from tunelab.settings import Settings, data_dir_override
from tunelab.tracking.artifacts import read_artifact
from tunelab.tracking.config import Strict, load_spec
from tunelab.tracking.registry import infer_experiment, load_experiment
from tunelab.tracking.runner import RunOutcome, execute, prepare_run
from tunelab.tuning.search import prepare_spec_search, run_search
from tunelab.tuning.spec import FixedParam, load_search_spec
from tunelab.tuning.studies import load_study
from tunelab.versioning.models import register

PARAMS_FILE = "params.yaml"
TRAIN_DIR = Path("data/processed/train")
TEST_DIR = Path("data/processed/test")
BATCH_DIR = Path("data/processed/batch")
MODELS_DIR = Path("models")
TUNE_HISTORY = Path("plots/tune_history.csv")
CONFUSION = Path("plots/confusion.csv")
METRICS = Path("metrics.json")
PREDICTIONS = Path("predictions/batch.csv")
REGISTERED = MODELS_DIR / "registered.json"


class PrepareParams(Strict):
    dataset: str = Field(description="the declared data set ([data.NAME] in tunelab.toml) the pipeline models")
    test_size: float = Field(gt=0, lt=1, description="share of every data set held out for evaluate")
    seed: int


class TrainParams(Strict):
    configs: list[str] = Field(min_length=1, description="fixed-parameter configs, one run each")


class TuneParams(Strict):
    enabled: bool
    specs: list[str] = Field(min_length=1, description="search specs, one study each")
    n_trials: int = Field(ge=1, description="per study; replaces the specs' budgets")
    workers: int = Field(default=1, ge=1)
    top: int = Field(default=2, ge=1, description="best trials of each study handed to the stack")


class StackParams(Strict):
    meta: Literal[NAMED_LEARNERS] | None = Field(default=None, description="null: the data set's task's")
    scorer: Literal[SCORERS] | None = Field(default=None, description="null: the data set's task's")
    folds: int = Field(default=5, ge=2)
    test_size: float = Field(default=0.3, gt=0, lt=1)
    seed: int = 42


class TransformParams(Strict):
    input: str | None = Field(
        default=None,
        description="CSV of feature rows (with a header) to predict; default: "
        "the test split's features, data/processed/batch/<dataset>.csv",
    )


class RegisterParams(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")


class PipelineParams(Strict):
    prepare: PrepareParams
    train: TrainParams
    tune: TuneParams
    stack: StackParams
    transform: TransformParams
    registry: RegisterParams

    @property
    def model_stage(self) -> str:
        """The branch that makes the candidate models: ``tune`` or ``train``."""
        return "tune" if self.tune.enabled else "train"


def load_params(project_dir: Path) -> PipelineParams:
    """Read and check ``params.yaml``; TunelabError ``"params.yaml: key 'tune.n_trials': …"``."""
    return load_spec(project_dir / PARAMS_FILE, PipelineParams)


@contextmanager
def split_data(settings: Settings, directory: Path) -> Iterator[Settings]:
    """Settings (and environment, for worker processes and experiments) that read a split's data sets."""
    with data_dir_override(settings.project_dir / directory):
        yield replace(settings, data_dir=settings.project_dir / directory)


def training_data(settings: Settings):
    """:func:`split_data` of the training split."""
    return split_data(settings, TRAIN_DIR)


def prepare(settings: Settings, params: PipelineParams) -> list[Path]:
    """Split ``prepare.dataset`` into train and held-out test files (the source's format, the same declaration),
    and the test features into a batch CSV."""
    from sklearn.model_selection import train_test_split

    spec = declaration(settings, params.prepare.dataset)
    source = settings.project_dir / spec.path
    frame = read_table(source)
    _, y, columns = split_columns(frame, spec, source)
    train_rows, test_rows = train_test_split(
        frame,
        test_size=params.prepare.test_size,
        random_state=params.prepare.seed,
        stratify=y if spec.task == "classification" else None,
    )
    for directory in (TRAIN_DIR, TEST_DIR, BATCH_DIR):
        shutil.rmtree(settings.project_dir / directory, ignore_errors=True)
    written = [
        write_table(train_rows, settings.project_dir / TRAIN_DIR / f"{spec.name}{source.suffix}"),
        write_table(test_rows, settings.project_dir / TEST_DIR / f"{spec.name}{source.suffix}"),
        # the test features, after the columns that are not (an id): the predictions carry those along
        write_table(test_rows[[*spec.drop, *columns]], settings.project_dir / BATCH_DIR / f"{spec.name}.csv"),
    ]
    return written


def train(settings: Settings, params: PipelineParams) -> list[dict[str, Any]]:
    """One run per ``train.configs`` file (unless ``tune.enabled``); the runs become the candidates."""
    if params.tune.enabled:
        return _write_candidates(settings, "train", [], skipped="tune.enabled is true")
    with training_data(settings) as on_train:
        requests = []
        for config in map(Path, params.train.configs):  # all checked before the first runs
            experiment = infer_experiment(on_train.experiments_dir, config)
            updates = {f"{PARAMS_FILE}: prepare.dataset": _dataset_config(on_train, experiment, params)}
            requests.append(prepare_run(on_train, experiment, config, info={"stage": "train"}, updates=updates))
        outcomes = [execute(on_train, request) for request in requests]
    for outcome in outcomes:
        _check_completed(outcome, f"train ({outcome.config_file})")
    return _write_candidates(settings, "train", [o.run_id for o in outcomes])


def tune(settings: Settings, params: PipelineParams) -> list[dict[str, Any]]:
    """One study per ``tune.specs`` file (if ``tune.enabled``); their best trials become the candidates.

    A study's name carries a hash of its spec, ``n_trials`` and the training
    data, so a crashed stage resumes its study and a change starts a new one.
    """
    history = settings.project_dir / TUNE_HISTORY
    history.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    run_ids: list[int] = []
    if params.tune.enabled:
        with training_data(settings) as on_train:
            for spec_file in params.tune.specs:
                spec = load_search_spec(on_train, Path(spec_file))
                key = _study_key(spec.model_dump_json(), params.tune.n_trials, on_train)
                fixed = _dataset_config(on_train, spec.experiment, params)
                spec = spec.model_copy(
                    update={
                        "space": {**spec.space, **{k: FixedParam(type="fixed", value=v) for k, v in fixed.items()}},
                        "study_name": f"pipeline-{spec.study_name}-{key}",
                        "budget": spec.budget.model_copy(update={"n_trials": params.tune.n_trials}),
                    }
                )
                run_search(on_train, prepare_spec_search(on_train, spec, None, params.tune.workers))
                report = load_study(on_train, spec.study_name)
                rows += _history_rows(report)
                ranked = [t for t in report.ranked() if t.run_id is not None][: params.tune.top]
                run_ids += [t.run_id for t in ranked]
    _write_csv(history, ["study", "trial", "value", "best"], rows)
    if not params.tune.enabled:
        return _write_candidates(settings, "tune", [], skipped="tune.enabled is false")
    return _write_candidates(settings, "tune", run_ids)


def stack(settings: Settings, params: PipelineParams) -> dict[str, Any]:
    """Stack the chosen branch's candidates (an mlens run) and save the ensemble in ``models/stack``."""
    candidates = read_candidates(settings, params.model_stage)
    spec = EnsembleSpec(
        base_learners=[RunSource(runs=[c["run_id"] for c in candidates])],
        layers=[Layer(folds=params.stack.folds)],
        meta=params.stack.meta,
        scorer=params.stack.scorer,
        test_size=params.stack.test_size,
        seed=params.stack.seed,
    )
    with training_data(settings) as on_train:
        outcome = run_stack(on_train, spec, f"{PARAMS_FILE}: stack")
    _check_completed(outcome, "stack")
    run = db.connect(settings)["runs"].find_one({"_id": outcome.run_id}, {"info": 1, "config.scorer": 1})
    held_out = run["info"]["held_out"]
    record = {
        "run_id": outcome.run_id,
        "artifact": "ensemble.joblib",
        "verdict": run["info"]["verdict"],
        "held_out": held_out,
        "beats_best_single": SCORES[run["config"]["scorer"]].better(
            held_out["ensemble"], held_out["base"][held_out["best_single"]]
        ),
    }
    _save_model(settings, MODELS_DIR / "stack", record)
    return record


def evaluate(settings: Settings, params: PipelineParams) -> dict[str, Any]:
    """Score the best single model and the stack on the held-out split; select the model to ship.

    ``metrics.json`` has the task's scores (accuracy and balanced accuracy, or
    r2, rmse and mae). The stack is selected if it beat the best single learner
    on the stack run's own validation split (the test split only reports, never selects).
    """
    best = read_candidates(settings, params.model_stage)[0]
    stacked = json.loads((settings.project_dir / MODELS_DIR / "stack" / "model.json").read_text())
    with split_data(settings, TEST_DIR) as on_test:
        test = load_dataset(params.prepare.dataset, on_test)
    metrics: dict[str, Any] = {"dataset": test.name, "task": test.task, "test_rows": len(test.y)}
    predictions = {}
    for label, directory, record in (("best_single", params.model_stage, best), ("stack", "stack", stacked)):
        model = load_model(settings.project_dir / MODELS_DIR / directory)
        predictions[label] = model.predict(test.X)
        scores = {
            name: float(score.function(test.y, predictions[label])) for name, score in task_scores(test.task).items()
        }
        metrics[label] = {"run_id": record["run_id"], **scores}
    selected = "stack" if stacked["beats_best_single"] else "best_single"
    metrics["selected"] = selected
    (settings.project_dir / METRICS).write_text(json.dumps(metrics, indent=2) + "\n")
    rows = [{"actual": _plain(a), "predicted": _plain(p)} for a, p in zip(test.y, predictions[selected], strict=False)]
    _write_csv(settings.project_dir / CONFUSION, ["actual", "predicted"], rows)
    source = MODELS_DIR / ("stack" if selected == "stack" else params.model_stage)
    target = settings.project_dir / MODELS_DIR / "selected"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(settings.project_dir / source, target)
    return metrics


def _plain(value: Any) -> Any:
    """A label or a prediction as CSV writes it: whole numbers as integers."""
    value = value.item() if hasattr(value, "item") else value
    return int(value) if isinstance(value, float) and value.is_integer() else value


def transform(settings: Settings, params: PipelineParams) -> Path:
    """Predict every row of ``transform.input`` with the selected model; writes ``predictions/batch.csv``.

    Columns ``prepare.dataset`` declares as not features (``drop``: an id) are copied to the predictions
    ahead of them, so that each prediction can be joined back to its row; the other columns are the features.
    """
    source = settings.project_dir / (params.transform.input or BATCH_DIR / f"{params.prepare.dataset}.csv")
    try:
        frame = read_table(source)
    except TunelabError as exc:
        raise TunelabError(f"{PARAMS_FILE}: key 'transform.input': {exc}") from None
    carried = [column for column in declaration(settings, params.prepare.dataset).drop if column in frame.columns]
    try:
        X = frame.drop(columns=carried).to_numpy(dtype=np.float64)  # numbers and booleans, as a data set's features
    except ValueError as exc:
        raise TunelabError(f"{PARAMS_FILE}: key 'transform.input': {source}: {exc}") from None
    model = load_model(settings.project_dir / MODELS_DIR / "selected")
    expected = getattr(model, "n_features_in_", X.shape[1])
    if X.shape[1] != expected:
        raise TunelabError(f"{source}: {X.shape[1]} columns, but the selected model takes {expected} features")
    rows = [
        {**{column: _plain(frame[column].iloc[i]) for column in carried}, "row": i, "prediction": _plain(p)}
        for i, p in enumerate(model.predict(X))
    ]
    _write_csv(settings.project_dir / PREDICTIONS, [*carried, "row", "prediction"], rows)
    return settings.project_dir / PREDICTIONS


def register_selected(settings: Settings, params: PipelineParams) -> dict[str, Any]:
    """Register the selected model's run as a new version of ``registry.name``."""
    selected = json.loads((settings.project_dir / MODELS_DIR / "selected" / "model.json").read_text())
    version = register(settings, selected["run_id"], params.registry.name, selected["artifact"])
    record = {"name": version.name, "version": version.version, "run_id": version.run_id}
    (settings.project_dir / REGISTERED).write_text(json.dumps(record, indent=2) + "\n")
    return record


STAGES = dict(zip(STAGE_NAMES, (prepare, train, tune, stack, evaluate, transform, register_selected), strict=True))


def read_candidates(settings: Settings, stage: str) -> list[dict[str, Any]]:
    """The candidate runs a model stage wrote, best first; TunelabError if it made none."""
    record = json.loads((settings.project_dir / MODELS_DIR / stage / "candidates.json").read_text())
    if not record["candidates"]:
        raise TunelabError(f"{MODELS_DIR / stage}: stage {stage!r} made no candidate models ({record.get('skipped')})")
    return record["candidates"]


def load_model(directory: Path) -> Any:
    """The fitted model a stage saved in ``directory`` (an mlens ensemble or a scikit-learn estimator)."""
    mlens_compat.apply()  # an ensemble unpickles mlens, which needs the patches
    return joblib.load(directory / "model.joblib")


def _study_key(spec_json: str, n_trials: int, settings: Settings) -> str:
    data = hashlib.md5(b"".join(p.read_bytes() for p in sorted(settings.data_dir.glob("*.*")))).hexdigest()
    return hashlib.sha1(f"{spec_json}|{n_trials}|{data}".encode()).hexdigest()[:8]


def _dataset_config(settings: Settings, experiment: str, params: PipelineParams) -> dict[str, str]:
    """``{"dataset": prepare.dataset}`` for an experiment whose config names its data set, else nothing."""
    schema = load_experiment(settings.experiments_dir, experiment).schema
    return {"dataset": params.prepare.dataset} if "dataset" in schema.model_fields else {}


def _check_completed(outcome: RunOutcome, what: str) -> None:
    if outcome.status != "COMPLETED":
        raise TunelabError(f"{what}: run {outcome.run_id} {outcome.status}: {outcome.error or ''}".rstrip(": "))


def _write_candidates(
    settings: Settings, stage: str, run_ids: list[int], skipped: str | None = None
) -> list[dict[str, Any]]:
    """``models/<stage>/candidates.json``, the runs best first, and the best run's model as ``model.joblib``."""
    directory = settings.project_dir / MODELS_DIR / stage
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    fields = {"experiment.name": 1, "result": 1, "info.dataset": 1, "info.result_direction": 1}
    runs = sorted(db.connect(settings)["runs"].find({"_id": {"$in": run_ids}}, fields), key=lambda r: r["_id"])
    # a tune stage's runs come ranked by their study (in its direction); train runs by result, in its direction
    runs = sorted(runs, key=lambda r: run_ids.index(r["_id"])) if stage == "tune" else best_first(runs)
    ranked = [
        {
            "run_id": r["_id"],
            "experiment": r["experiment"]["name"],
            "result": r["result"],
            "dataset": r["info"]["dataset"],
        }
        for r in runs
    ]
    record: dict[str, Any] = {"stage": stage, "candidates": ranked}
    if skipped:
        record["skipped"] = skipped
    (directory / "candidates.json").write_text(json.dumps(record, indent=2) + "\n")
    if ranked:
        _save_model(
            settings, MODELS_DIR / stage, {"run_id": ranked[0]["run_id"], "artifact": "model.joblib"}, clear=False
        )
    return ranked


def _save_model(settings: Settings, directory: Path, record: dict[str, Any], clear: bool = True) -> None:
    """``model.joblib`` (the run's model artifact) and ``model.json`` (where it came from) in ``directory``."""
    target = settings.project_dir / directory
    if clear:
        shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True, exist_ok=True)
    (target / "model.joblib").write_bytes(read_artifact(db.connect(settings), record["run_id"], record["artifact"]))
    (target / "model.json").write_text(json.dumps(record, indent=2) + "\n")


def _history_rows(report) -> list[dict[str, Any]]:
    rows, best = [], None
    better = max if report.directions[0] == "maximize" else min
    for trial in sorted(report.trials, key=lambda t: t.number):
        if trial.state == "COMPLETE" and trial.values:
            best = trial.values[0] if best is None else better(best, trial.values[0])
            rows.append({"study": report.name, "trial": trial.number, "value": trial.values[0], "best": best})
    return rows


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)
