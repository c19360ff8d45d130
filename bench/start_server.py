"""Start a server process pinned to a core and time it from spawn to its first 200 on the
readiness URL. Prints `pid seconds`; the server keeps running (own session) for wrk.

usage: start_server.py CPU READY_URL LOGFILE -- COMMAND...
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request


def main() -> int:
    cpu, url, logfile = sys.argv[1:4]
    cmd = sys.argv[sys.argv.index("--") + 1 :]
    with open(logfile, "wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(["taskset", "-c", cpu, *cmd], stdout=log, stderr=log, start_new_session=True)
    deadline = started + 120
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            print(f"server exited with {proc.returncode}; see {logfile}", file=sys.stderr)
            return 1
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    print(proc.pid, f"{time.perf_counter() - started:.3f}")
                    return 0
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.005)
    proc.kill()
    return 1


if __name__ == "__main__":
    sys.exit(main())
