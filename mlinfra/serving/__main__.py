"""`python -m mlinfra.serving --model-uri URI --port P` (flags override MLINFRA_* variables)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from mlinfra.serving.frameworks import FRAMEWORKS
from mlinfra.serving.settings import describe_errors


def parse_args(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m mlinfra.serving", description=__doc__)
    p.add_argument("--model-uri", help="s3://, https://, file:// or a path (env MLINFRA_MODEL_URI)")
    p.add_argument("--port", type=int)
    p.add_argument("--host")
    p.add_argument("--model-name")
    p.add_argument("--framework", choices=FRAMEWORKS)
    p.add_argument("--sha256", dest="model_sha256")
    p.add_argument("--trusted-pickle", action="store_true", default=None)
    args = vars(p.parse_args(argv))
    return {k: v for k, v in args.items() if v is not None}


def main(argv: Sequence[str] | None = None) -> int:
    overrides = parse_args(argv)
    from mlinfra.serving.run import run

    try:
        return run(overrides)
    except ValidationError as exc:
        print(
            "mlinfra.serving: invalid settings (flags or MLINFRA_* variables): " + describe_errors(exc),
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    exit_code = main()
    # The server has drained (or hit its drain deadline) when main() returns, but a worker
    # thread may still be inside a model download or a slow model call; the interpreter would
    # wait for it at exit, past the orchestrator's grace period. Flush logs and end now.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
