"""Compiled-model predict time per batch size: this checkout against a git revision of the
compiled evaluator, the same artifact, the same rows, in one run (interleaved, best of many).

usage: .venv/bin/python bench/compiled_predict.py [REV] [FAMILY...]   (a venv with the frameworks)
REV (default HEAD~1): the revision whose mlinfra/serving/compiled/ is the baseline.
FAMILY (default all): hgb rf logreg xgboost lightgbm (trained by bench/make_model.py).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("hgb", "rf", "logreg", "xgboost", "lightgbm")
BATCHES = (1, 4, 32, 128)


def baseline_package(rev: str, into: Path) -> str:
    """mlinfra/serving/compiled at `rev`, importable as `baseline_compiled` (it imports the rest of
    the runtime from this checkout, which the evaluator only uses for the file format)."""
    pkg = into / "baseline_compiled"
    pkg.mkdir()
    names = subprocess.run(
        ["git", "-C", str(ROOT), "ls-tree", "--name-only", f"{rev}:mlinfra/serving/compiled/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in names:
        text = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{rev}:mlinfra/serving/compiled/{name}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        (pkg / name).write_text(text.replace("mlinfra.serving.compiled", "baseline_compiled"))
    sys.path.insert(0, str(into))
    return "baseline_compiled"


def best_us(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, calls: int = 300) -> float:
    best = float("inf")
    for _ in range(calls):
        started = time.perf_counter()
        fn(x)
        best = min(best, time.perf_counter() - started)
    return best * 1e6


def main() -> int:
    args = sys.argv[1:]
    rev = args.pop(0) if args and args[0] not in FAMILIES else "HEAD~1"
    families = args or list(FAMILIES)
    sys.path.insert(0, str(ROOT))
    from mlinfra.serving.compiled import program
    from mlinfra.serving.compiled.__main__ import compile_model
    from mlinfra.serving.compiled.artifact import sidecar_path

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        old = importlib.import_module(baseline_package(rev, work) + ".program")
        print(f"baseline: mlinfra/serving/compiled at {rev}; load average {Path('/proc/loadavg').read_text()[:14]}")
        print("| family | batch | baseline us | this checkout us | speed-up |")
        print("|---|---|---|---|---|")
        for family in families:
            made = subprocess.run(
                [sys.executable, str(ROOT / "bench/make_model.py"), family, str(work)],
                capture_output=True,
                text=True,
                check=True,
            )
            model = Path(made.stdout.strip())
            if compile_model(model, None, True, None) != 0:
                print(f"| {family} | not compiled | | | |")
                continue
            compiled = sidecar_path(model)
            new, base = program.load(compiled), old.load(compiled)
            rng = np.random.default_rng(0)
            for batch in BATCHES:
                x = rng.normal(size=(batch, new.n_features))
                if not np.array_equal(new.predict(x), base.predict(x)):
                    print(f"{family}: batch {batch}: the two disagree", file=sys.stderr)
                    return 1
                then = now = float("inf")
                for _ in range(3):  # interleaved, so both see the same machine
                    then = min(then, best_us(base.predict, x))
                    now = min(now, best_us(new.predict, x))
                print(f"| {family} | {batch} | {then:.1f} | {now:.1f} | {then / now:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
