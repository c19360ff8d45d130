"""`python -m mlinfra.serving.compiled MODEL [--framework F] [--trusted-pickle] [--sample X.npy]`

Run in the image's build stage. Writes MODEL.mlinfra.npz when the compiled form reproduces
the framework exactly (exit 0); otherwise writes nothing, says why (exit 3), and the image
keeps serving the model with its framework. Exit 2: bad arguments or an unreadable model.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mlinfra.serving.compiled import artifact
from mlinfra.serving.compiled.convert import Unsupported, convert
from mlinfra.serving.compiled.program import WARMUP_ROW, load
from mlinfra.serving.compiled.verify import probe_rows, reject_rows, verify
from mlinfra.serving.errors import ModelLoadError
from mlinfra.serving.frameworks import FRAMEWORKS, infer_framework

KEPT_FRAMEWORK = 3


def _say(msg: str) -> None:
    print(f"mlinfra compile: {msg}", file=sys.stderr, flush=True)


def _per_row_us(predict: Callable[[np.ndarray], np.ndarray], row: np.ndarray) -> float:
    """Best of 20 one-row calls (the least disturbed by other work on the machine)."""
    best = float("inf")
    for _ in range(20):
        started = time.perf_counter()
        predict(row)
        best = min(best, time.perf_counter() - started)
    return best * 1e6


def compile_model(model: Path, framework: str | None, trusted_pickle: bool, sample: Path | None) -> int:
    from mlinfra.serving.models import load_model

    out = artifact.sidecar_path(model)
    out.unlink(missing_ok=True)  # never leave a stale artifact next to a new model
    chosen = framework or infer_framework(model.name)
    try:
        loaded = load_model(
            model,
            framework=chosen,
            trusted_pickle=trusted_pickle,
            fast_trees=False,
            use_compiled=False,
        )
    except ModelLoadError as exc:
        _say(f"{model.name}: {exc}")
        return 2
    try:
        program = convert(loaded.native, loaded.framework)
    except Unsupported as exc:
        _say(f"{model.name}: kept the {loaded.framework} path: {exc}")
        return KEPT_FRAMEWORK
    except Exception as exc:  # an unexpected model layout is a fallback, not a failed build
        _say(f"{model.name}: kept the {loaded.framework} path: conversion failed: {exc!r}")
        return KEPT_FRAMEWORK
    width = loaded.n_features
    if width is None:
        _say(f"{model.name}: kept the {loaded.framework} path: the model records no input width")
        return KEPT_FRAMEWORK
    header = {
        "format": artifact.FORMAT,
        "version": artifact.VERSION,
        "source": {
            "file": model.name,
            "sha256": artifact.file_sha256(model),
            "framework": loaded.framework,
            "type": program.model_type,
        },
        "n_features": width,
        "input_dtype": loaded.input_dtype.name,
        "steps": program.steps,
        "head": program.head,
    }
    held_out = np.load(sample, allow_pickle=False) if sample else None
    probes = probe_rows(
        width,
        loaded.input_dtype,
        program.split_points,
        program.missing_ok,
        held_out,
        categories=program.categories,
        unknown_ok=not program.rejects_unknown,
    )
    rejects = reject_rows(probes, program.categories) if program.rejects_unknown else None
    tmp = out.with_name(out.name + ".candidate.npz")
    try:
        # a row both the framework and the compiled form accept: the server warms up with it
        # (all zeros may be refused, e.g. by an encoder whose categories exclude 0)
        artifact.write(tmp, header, {**program.arrays, WARMUP_ROW: probes[:1]})
        compiled = load(tmp)  # verify the file exactly as the runtime will read it
        with warnings.catch_warnings():
            # e.g. OneHotEncoder(handle_unknown='warn') on every probe with an unknown value
            warnings.simplefilter("ignore")
            problem = verify(compiled, program, loaded.predict, probes, rejects)
    except Exception as exc:
        problem = f"compiled form failed: {exc!r}"
    if problem:
        tmp.unlink(missing_ok=True)
        _say(f"{model.name}: kept the {loaded.framework} path: {problem}")
        return KEPT_FRAMEWORK
    tmp.replace(out)
    row = probes[:1]
    _say(
        f"{model.name}: compiled {program.model_type} -> {out.name}; verified on "
        f"{len(probes)} probe rows (predictions and scores bit-identical"
        f"{', NaN included' if program.missing_ok else ''}); one row: framework "
        f"{_per_row_us(loaded.predict, row):.0f} us, compiled {_per_row_us(compiled.predict, row):.0f} us"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mlinfra.serving.compiled", description=__doc__)
    p.add_argument("model", type=Path)
    p.add_argument("--framework", choices=FRAMEWORKS)
    p.add_argument("--trusted-pickle", action="store_true")
    p.add_argument("--sample", type=Path, help="held-out rows (.npy, 2-D) to verify on too")
    args = p.parse_args(argv)
    if not args.model.is_file():
        _say(f"{args.model}: no such file")
        return 2
    return compile_model(args.model, args.framework, args.trusted_pickle, args.sample)


if __name__ == "__main__":
    sys.exit(main())
