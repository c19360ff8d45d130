"""Plan time for N generated services vs the floor: the same resources registered with raw Pulumi mocks.

Each size runs in its own process (Pulumi's runtime state is process-global). In that process:
1. `plan`: the full `mlinfra plan` work (validate, run the program under the recording mocks,
   cost, policies, JSON), timed;
2. `floor`: every resource the plan recorded, registered again with plain `pulumi.CustomResource`
   / `ComponentResource` calls and a do-nothing `pulumi.runtime.Mocks` - what any Pulumi program
   declaring these resources pays at least.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def make_project(dest: Path, n: int) -> Path:
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy2(ROOT / name, dest / name)
    (dest / "stacks").mkdir()
    stack = (ROOT / "stacks" / "Pulumi.staging.yaml").read_text()
    stack = stack.split("  mlinfra:services:")[0]  # overrides and secrets name the example services
    (dest / "stacks" / "Pulumi.bench.yaml").write_text(stack)
    (dest / "services").mkdir()
    lines = ["from mlinfra import ModelService", ""]
    for i in range(n):
        gpu = ", gpu=True" if i % 5 == 4 else ""  # one GPU service in five
        lines.append(
            f'ModelService("svc-{i:03d}", model_uri="s3://bench-models/m{i}/model.skops"{gpu}, '
            f'autoscaling={{"min_replicas": 2, "max_replicas": 6}})'
        )
    (dest / "services" / "generated.py").write_text("\n".join(lines) + "\n")
    return dest


def measure(project: Path) -> dict[str, Any]:
    import pulumi
    from pulumi.runtime import mocks, settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    from mlinfra.engine.plan import plan_document, to_json
    from mlinfra.engine.runner import run_offline

    start = time.perf_counter()
    run = run_offline(project, "bench")
    to_json(plan_document(run))
    plan_s = time.perf_counter() - start

    class Nothing(mocks.Mocks):
        def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
            return f"{args.name}-id", dict(args.inputs)

        def call(self, args: mocks.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
            return {}

    def register() -> None:
        made: dict[str, pulumi.Resource] = {}
        for r in run.resources:
            opts = pulumi.ResourceOptions(
                parent=made.get(r.parent), depends_on=[made[d] for d in r.dependencies if d in made]
            )
            if r.custom:
                made[r.urn] = pulumi.CustomResource(r.type, r.name, dict(r.inputs), opts)
            else:
                made[r.urn] = pulumi.ComponentResource(r.type, r.name, None, opts)

    start = time.perf_counter()
    settings.reset_options(project="bench", stack="bench")
    pulumi.runtime.set_mocks(Nothing(), project="bench", stack="bench", preview=False)
    _sync_await(run_pulumi_func(register))
    floor_s = time.perf_counter() - start
    return {
        "resources": len(run.resources),
        "plan_s": round(plan_s, 3),
        "floor_s": round(floor_s, 3),
        "ratio": round(plan_s / floor_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 50, 100])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps({"services": args.one, **measure(make_project(Path(tmp), args.one))}))
        return
    print(f"{'services':>8} {'resources':>9} {'plan s':>8} {'floor s':>8} {'ratio':>6}")
    for n in args.sizes:
        proc = subprocess.run([sys.executable, __file__, "--one", str(n)], capture_output=True, text=True, check=True)
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"{row['services']:>8} {row['resources']:>9} {row['plan_s']:>8.2f} {row['floor_s']:>8.2f} "
            f"{row['ratio']:>6.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
