"""Run a project's own Python file (`services/*.py`, `__main__.py`) so that nothing it does
escapes as a traceback, a silent exit or a hang: every way it can stop becomes one `Problem`
naming the file and line.

This is not a security boundary (the file is the user's own code); it keeps a mistake in a
services file from making `mlinfra plan --strict` exit 0 with nothing planned.
"""

from __future__ import annotations

import contextlib
import math
import os
import posix
import runpy
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

from mlinfra.errors import Problem, SpecError, excerpt

TIMEOUT_ENV = "MLINFRA_SERVICES_TIMEOUT"
DEFAULT_TIMEOUT_S = 5.0
# After the first stop, a file that swallows it gets this many more before the process ends.
_SWALLOW_LIMIT = 3
_HARD_EXIT = os._exit  # the real one, taken before any file can replace it


class _ExitCalled(BaseException):
    """Raised in place of `os._exit` / `os.abort` while a project file runs."""

    def __init__(self, how: str) -> None:
        super().__init__(how)
        self.how = how


class _TimedOut(BaseException):
    """Raised from SIGALRM when a project file runs past its bound."""


def timeout_seconds() -> float:
    """The bound on one services file, from MLINFRA_SERVICES_TIMEOUT (0 turns it off)."""
    text = os.environ.get(TIMEOUT_ENV)
    if text is None:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise SpecError(
            [Problem("(environment)", TIMEOUT_ENV, excerpt(text), "a number of seconds >= 0 (0 turns the bound off)")]
        )
    return value


def run_project_file(path: Path, shown: str, *, run_name: str, timeout: float = 0) -> Problem | None:
    """Execute `path` as `runpy` would; None if it ran to the end, else what stopped it.

    The working directory is restored afterwards, and the file's stdout goes to stderr so
    that a `print()` in it cannot corrupt `--format json` output.
    """
    cwd = os.getcwd()
    try:
        with _exits_refused(), _deadline(timeout, shown), contextlib.redirect_stdout(sys.stderr):
            runpy.run_path(str(path), run_name=run_name)
    except SyntaxError as exc:
        if exc.filename in (str(path), None):  # None: the source could not even be read as text
            return Problem(
                f"{shown}:{exc.lineno or '?'}",
                "(python syntax)",
                excerpt((exc.text or "").strip()),
                f"valid Python: {exc.msg}",
            )
        return _stopped(path, shown, exc, timeout)
    except BaseException as exc:
        return _stopped(path, shown, exc, timeout)
    finally:
        with contextlib.suppress(OSError):
            os.chdir(cwd)
    return None


def _stopped(path: Path, shown: str, exc: BaseException, timeout: float) -> Problem:
    where = f"{shown}:{_line_in(path, exc.__traceback__)}"
    if isinstance(exc, SystemExit):
        code = exc.code if not isinstance(exc.code, str) else excerpt(exc.code)
        what = f"calls sys.exit({code!r})"
    elif isinstance(exc, _ExitCalled):
        what = f"calls {exc.how}"
    elif isinstance(exc, _TimedOut):
        return Problem(
            where,
            "(module)",
            "still running",
            f"a services file must finish within {timeout:g} s (it only declares "
            f"ModelService(...)); raise the bound with {TIMEOUT_ENV}=<seconds>",
        )
    elif isinstance(exc, KeyboardInterrupt):
        what = "was interrupted (KeyboardInterrupt)"
    else:
        detail = excerpt(str(exc), 200)
        what = f"raises {type(exc).__name__}" + (f": {detail}" if detail else "")
    return Problem(
        where, "(module)", type(exc).__name__, f"the file must run to the end without exiting or raising; it {what}"
    )


def _line_in(path: Path, tb: TracebackType | None) -> int | str:
    """The last line of `path` on the traceback (where the file was when it stopped)."""
    line: int | str = "?"
    for frame, lineno in traceback.walk_tb(tb):
        if frame.f_code.co_filename == str(path):
            line = lineno
    return line


@contextlib.contextmanager
def _exits_refused() -> Iterator[None]:
    """`os._exit` and `os.abort` end the process without unwinding; raise instead."""
    saved = {
        (mod, name): getattr(mod, name) for mod in (os, posix) for name in ("_exit", "abort") if hasattr(mod, name)
    }

    def refuse_exit(code: int = 0) -> NoReturn:
        raise _ExitCalled(f"os._exit({code!r})")

    def refuse_abort() -> NoReturn:
        raise _ExitCalled("os.abort()")

    for mod, name in saved:
        setattr(mod, name, refuse_exit if name == "_exit" else refuse_abort)
    try:
        yield
    finally:
        for (mod, name), original in saved.items():
            setattr(mod, name, original)


@contextlib.contextmanager
def _deadline(seconds: float, shown: str) -> Iterator[None]:
    """Stop the block after `seconds` with `_TimedOut` (main thread only: SIGALRM)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = 0

    def on_alarm(signum: int, frame: Any) -> None:
        nonlocal fired
        fired += 1
        if fired > _SWALLOW_LIMIT:
            # The file caught every stop: end the process rather than hang forever.
            sys.stderr.write(
                f"error: {shown}: (module): still running after {seconds:g} s and ignores being "
                f"stopped; a services file must only declare ModelService(...)\n"
            )
            sys.stderr.flush()
            _HARD_EXIT(2)
        raise _TimedOut()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.5)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
