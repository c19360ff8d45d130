"""The real CLI entry point (`mlinfra.cli:main`, what the `mlinfra` script runs), each call in
a forked child of the test process.

A fresh interpreter per case costs ~2 s of imports on a shared machine; a fork costs
milliseconds and still isolates everything a case can do (exit, hang, chdir, leftover
Pulumi state). The child gets its own stdout/stderr files and `sys.argv`, exactly as a shell
would give them, and ends with `os._exit` so pytest's own machinery never runs twice.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping
from pathlib import Path


def warm_imports() -> None:
    """Import what every command needs once, in the parent, so each fork starts warm."""
    import mlinfra.cli
    import mlinfra.engine.plan
    import mlinfra.engine.render
    import mlinfra.engine.runner  # noqa: F401


def run_cli(
    *args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`mlinfra ARGS...` in a forked child; returncode -9 if it had to be killed at `timeout`.

    Forking is only safe while this process has one thread: an earlier test that ran Pulumi's
    mocks in-process leaves gRPC threads behind, and a child forked beside them can wait forever
    on a lock one of them held. Then each case runs in a fresh interpreter instead.
    """
    if _threads() > 1:
        return _run_fresh(args, cwd, env, timeout)
    warm_imports()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            _child(args, out.fileno(), err.fileno(), cwd, env)
        code = _wait(pid, timeout)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(
            ["mlinfra", *args], code, out.read().decode(errors="replace"), err.read().decode(errors="replace")
        )


def _child(args: tuple[str, ...], out_fd: int, err_fd: int, cwd: Path | None, env: Mapping[str, str] | None) -> None:
    code = 1
    try:
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if cwd is not None:
            os.chdir(cwd)
        os.environ.update(env or {})
        sys.argv = ["mlinfra", *args]
        from mlinfra.cli import main

        try:
            main()
            code = 0
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _wait(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return -9
        time.sleep(0.01)


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # no procfs: assume the worst
        return 2


def _run_fresh(
    args: tuple[str, ...], cwd: Path | None, env: Mapping[str, str] | None, timeout: float
) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(
            [sys.executable, "-m", "mlinfra", *args],
            cwd=cwd,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        return subprocess.CompletedProcess(["mlinfra", *args], -9, out, err)
    return subprocess.CompletedProcess(["mlinfra", *args], done.returncode, done.stdout, done.stderr)
