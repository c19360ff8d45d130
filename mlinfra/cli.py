"""`mlinfra` command line. Bad input ends in exit 2 with a one-paragraph message, never a traceback."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from mlinfra.spec.errors import MlinfraError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Declarative ML serving on AWS: plan, diff and render offline.")
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Format(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


ProjectDir = Annotated[Path, typer.Option("--project-dir", "-C", help="Project root.",
                                          file_okay=False, exists=True)]


@app.callback()
def _root() -> None:
    """Declarative ML serving on AWS: plan, diff and render offline."""


def _fail(exc: MlinfraError) -> None:
    err.print(f"[bold red]error:[/] {exc}", markup=True)
    raise typer.Exit(exc.exit_code)


@app.command()
def plan(
    stack: Annotated[list[str], typer.Option("--stack", "-s", help="Stack(s) to plan.")],
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
    project_dir: ProjectDir = Path(),
) -> None:
    """Run the stack's Pulumi program offline and show every resource `pulumi up` would create."""
    from mlinfra.engine import plan as planning
    from mlinfra.engine.runner import run_offline

    docs = []
    for name in stack:
        try:
            with err.status(f"planning {name} offline…"):
                docs.append(planning.plan_document(run_offline(project_dir, name)))
        except MlinfraError as exc:
            _fail(exc)
    if fmt is Format.json:
        payload = docs[0] if len(docs) == 1 else {"stacks": docs}
        sys.stdout.write(planning.to_json(payload))
        return
    for doc in docs:
        _print_plan(doc, markdown=fmt is Format.markdown)


@app.command()
def render(
    stack: Annotated[str, typer.Option("--stack", "-s", help="Stack to render.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")],
    project_dir: ProjectDir = Path(),
) -> None:
    """Write what the cloud would receive: Kubernetes YAML, ECS/IAM JSON, rules, build contexts."""
    from mlinfra.engine.render import render as render_run
    from mlinfra.engine.runner import run_offline

    try:
        with err.status(f"rendering {stack} offline…"):
            result = render_run(run_offline(project_dir, stack), out_dir)
    except MlinfraError as exc:
        _fail(exc)
    tops = sorted({f.split("/", 1)[0] for f in result.files})
    counts = ", ".join(f"{t}: {sum(f.startswith(t + '/') for f in result.files)}" for t in tops)
    out.print(f"rendered {stack} to {out_dir} ({counts})")


def _print_plan(doc: dict[str, object], *, markdown: bool) -> None:
    from mlinfra.engine.plan import summary_rows

    groups = summary_rows(doc)
    total = sum(sum(c.values()) for c in groups.values())
    title = f"{doc['project']} / {doc['stack']}: {total} resources"
    if markdown:
        lines = [f"### {title}", "", "| group | type | count |", "| --- | --- | ---: |"]
        for group, counts in groups.items():
            lines += [f"| {group} | `{t}` | {n} |" for t, n in sorted(counts.items())]
        sys.stdout.write("\n".join(lines) + "\n\n")
        return
    table = Table(title=title, show_lines=False)
    table.add_column("group")
    table.add_column("resource type")
    table.add_column("count", justify="right")
    for group, counts in groups.items():
        first = True
        for rtype, n in sorted(counts.items()):
            table.add_row(group if first else "", rtype, str(n))
            first = False
        table.add_row("", f"[dim]subtotal {group}[/]", f"[dim]{sum(counts.values())}[/]")
    out.print(table)


def main() -> None:
    try:
        app()
    except MlinfraError as exc:  # anything not caught by a command
        err.print(f"error: {exc}")
        sys.exit(exc.exit_code)
    finally:
        _close_event_loop()


def _close_event_loop() -> None:
    # Pulumi's runtime leaves an event loop open; closing it here keeps interpreter shutdown
    # from printing "Exception ignored ... Invalid file descriptor" noise after our message.
    import asyncio
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            loop = asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:
            return
    if not loop.is_running() and not loop.is_closed():
        loop.close()


if __name__ == "__main__":
    main()
