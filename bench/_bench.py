"""Timing helpers shared by the benchmarks: medians of repetitions, printed as a table."""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Callable, Sequence

from rich.console import Console
from rich.table import Table


def repeat(fn: Callable[[], object], repetitions: int) -> list[float]:
    """Wall-clock seconds of ``repetitions`` calls of ``fn``."""
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def print_table(title: str, rows: Sequence[tuple], unit: str = "ms") -> None:
    """rows: (figure, its samples, the baseline's samples, the baseline's name[, target]); seconds in.

    A target (such as ``"≤ 3×"``) on any row adds a target column.
    """
    scale = {"ms": 1e3, "s": 1.0}[unit]
    targets = any(len(row) > 4 for row in rows)
    table = Table(title=title)
    columns = ["figure", f"median ({unit})", "min–max", "baseline", f"baseline median ({unit})", "ratio"]
    for column in columns + (["target"] if targets else []):
        table.add_column(column)
    for name, samples, baseline, baseline_name, *target in rows:
        median, base = statistics.median(samples), statistics.median(baseline)
        table.add_row(
            name,
            f"{median * scale:.2f}",
            f"{min(samples) * scale:.2f}–{max(samples) * scale:.2f}",
            baseline_name,
            f"{base * scale:.2f}",
            f"{median / base:.2f}×",
            *([target[0] if target else ""] if targets else []),
        )
    Console(width=160).print(table)


def free_port() -> int:
    """A TCP port nothing listens on now, for a benchmark's own database server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
