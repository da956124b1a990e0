"""Benchmark: mlens SuperLearner (as tunelab stacks) against scikit-learn's StackingClassifier.

    .venv/bin/python bench/stacking.py [--folds 5] [--repetitions 5]

Same base learners (random forest, SVC), same meta learner (logistic
regression), same folds, on make_moons(10000, noise=0.4) with a 30 % held-out
split: fit time and held-out accuracy, on one and on two cores.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import print_table, repeat  # noqa: E402
from sklearn.datasets import make_moons  # noqa: E402
from sklearn.ensemble import RandomForestClassifier, StackingClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.svm import SVC  # noqa: E402

from tunelab.ensembling.spec import EnsembleSpec  # noqa: E402
from tunelab.ensembling.stacking import build_ensemble  # noqa: E402

SEED = 42


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()
    X, y = make_moons(n_samples=10000, noise=0.4, random_state=SEED)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=SEED)
    base = [("rf", RandomForestClassifier(random_state=SEED)), ("svc", SVC(random_state=SEED))]

    rows, accuracy = [], {}
    for cores in (1, 2):
        spec = EnsembleSpec.model_validate(
            {
                "base_learners": [{"runs": [1]}],
                "layers": [{"type": "stack", "folds": args.folds}],
                "meta": "logistic_regression",
                "seed": SEED,
                "n_jobs": cores,
            }
        )
        mlens = build_ensemble(spec, base, "logistic_regression")
        sklearn = StackingClassifier(
            estimators=base,
            final_estimator=LogisticRegression(max_iter=1000, random_state=SEED),
            cv=args.folds,
            n_jobs=cores,
        )
        mlens_times = repeat(lambda: mlens.fit(X_train, y_train), args.repetitions)
        sklearn_times = repeat(lambda: sklearn.fit(X_train, y_train), args.repetitions)
        accuracy[cores] = (
            accuracy_score(y_test, mlens.predict(X_test)),
            accuracy_score(y_test, sklearn.predict(X_test)),
        )
        rows.append(
            (
                f"mlens stack (tunelab), {cores} core(s)",
                mlens_times,
                sklearn_times,
                f"scikit-learn StackingClassifier, {cores} core(s)",
            )
        )
    print_table(f"fit time, {args.folds} folds, make_moons(10000) (median of {args.repetitions})", rows, unit="s")
    for cores, (mlens_accuracy, sklearn_accuracy) in accuracy.items():
        print(f"held-out accuracy, {cores} core(s): mlens {mlens_accuracy:.4f}, scikit-learn {sklearn_accuracy:.4f}")


if __name__ == "__main__":
    main()
