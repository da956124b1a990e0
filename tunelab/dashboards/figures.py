"""The plotly figures of the dashboards: metric curves, study views, stacks."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
import plotly.graph_objects as go

from tunelab.dashboards.runs import Curve
from tunelab.dashboards.studies import StudyRuns, budgets, to_optuna

STATUS_COLORS = {"COMPLETED": "#2ca02c", "PRUNED": "#17becf", "FAILED": "#d62728", "INTERRUPTED": "#ff7f0e"}


def curve_figures(curves: Mapping[Any, Mapping[str, Curve]], labels: Mapping[Any, str]) -> list[tuple[str, go.Figure]]:
    """One figure per metric, one trace per run, overlaid (runs without the metric are left out)."""
    names = sorted({name for by_name in curves.values() for name in by_name})
    figures = []
    for name in names:
        figure = go.Figure(layout={"title": name, "xaxis_title": "step", "yaxis_title": name, "height": 380})
        for run_id, by_name in curves.items():
            if name in by_name:
                curve = by_name[name]
                figure.add_trace(go.Scatter(x=curve.steps, y=curve.values, mode="lines", name=labels[run_id]))
        figures.append((name, figure))
    return figures


def study_figures(study: StudyRuns) -> list[tuple[str, go.Figure | str]]:
    """Optuna's history, importance, parallel-coordinate and slice plots of the study (a note where one
    cannot be drawn), then each trial's budget."""
    rebuilt = to_optuna(study)
    target = {}
    if len(study.directions) > 1:  # Optuna's plots take one objective at a time: the first
        target = {"target": lambda trial: trial.values[0], "target_name": study.metrics[0]}
    views = {
        "optimisation history": optuna.visualization.plot_optimization_history,
        "parameter importance": optuna.visualization.plot_param_importances,
        "parallel coordinates": optuna.visualization.plot_parallel_coordinate,
        "slice": optuna.visualization.plot_slice,
    }
    figures: list[tuple[str, go.Figure | str]] = []
    for title, plot in views.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna's experimental-feature and few-trials warnings
                figures.append((title, plot(rebuilt, **target)))
        except (ValueError, RuntimeError) as exc:
            figures.append((title, f"not drawn: {exc}"))
    figures.append(("budget per trial", budget_figure(study)))
    return figures


def budget_figure(study: StudyRuns) -> go.Figure:
    """Steps each trial ran, coloured by how it ended (pruned trials stop early)."""
    rows = budgets(study)
    figure = go.Figure(
        layout={"title": "steps run per trial", "xaxis_title": "trial", "yaxis_title": "steps", "height": 340}
    )
    for status in sorted({status for _, _, status in rows}):
        picked = [(trial, steps) for trial, steps, s in rows if s == status]
        figure.add_trace(
            go.Bar(
                x=[t for t, _ in picked],
                y=[s for _, s in picked],
                name=status,
                marker_color=STATUS_COLORS.get(status),
            )
        )
    return figure


def stack_figure(held_out: Mapping[str, Any]) -> go.Figure:
    """Each base learner's held-out score, the best single one marked, against the ensemble's."""
    base: Sequence[tuple[str, float]] = sorted(held_out["base"].items(), key=lambda item: item[1])
    names = [name for name, _ in base] + ["ensemble"]
    scores = [score for _, score in base] + [held_out["ensemble"]]
    colors = ["#ff7f0e" if name == held_out["best_single"] else "#7f7f7f" for name, _ in base] + ["#1f77b4"]
    figure = go.Figure(
        go.Bar(x=scores, y=names, orientation="h", marker_color=colors, text=[f"{s:.4f}" for s in scores])
    )
    low = min(scores)
    figure.update_layout(
        title="held-out score: ensemble vs base learners (orange: best single)",
        height=120 + 40 * len(names),
        xaxis={"range": [max(0.0, low - 0.05), max(scores) + 0.02]},
    )
    return figure
