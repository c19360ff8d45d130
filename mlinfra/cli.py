"""`mlinfra` command line. Bad input ends in exit 2 with a one-paragraph message, never a traceback."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from mlinfra.errors import MISSING, MlinfraError, Problem, SpecError

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Declarative ML serving on AWS: plan, diff and render offline."
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Format(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


ProjectDir = Annotated[Path, typer.Option("--project-dir", "-C", help="Project root.", file_okay=False, exists=True)]


def _show_version(value: bool) -> None:
    if value:
        from mlinfra.serving.version import __version__

        out.print(f"mlinfra {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the mlinfra version and exit."),
    ] = False,
) -> None:
    """Declarative ML serving on AWS: plan, diff and render offline."""


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="New or empty directory for the project.")] = Path(),
) -> None:
    """Start a new project: Pulumi.yaml, an example service, dev and prod stacks, the review workflow."""
    from mlinfra.scaffold.init import write_project

    try:
        written = write_project(directory)
    except MlinfraError as exc:
        _fail(exc)
    out.print(f"created {len(written)} files in {directory}:", *(f"  {f}" for f in written), sep="\n")
    cd = "" if directory.resolve() == Path.cwd().resolve() else f"cd {directory} && "
    out.print(f"next: {cd}mlinfra plan --stack dev   (offline; see README.md for `pulumi up`)")


def _fail(exc: MlinfraError) -> NoReturn:
    """The one place an SDK error (`mlinfra.errors`) becomes a message and its exit code (2)."""
    # The message holds user values (`[/x]`, `[bold]prod`): print it as text, never as markup.
    err.print(Text.assemble(("error:", "bold red"), " ", str(exc)))
    raise typer.Exit(exc.exit_code)


LivePrices = Annotated[
    bool, typer.Option("--live-prices", help="Refresh EC2 prices (AWS Price List API, EC2 spot price history).")
]
Wide = Annotated[bool, typer.Option("--wide", "-w", help="Full type tokens and names, whatever the width.")]


def _plan(project_dir: Path, name: str, live_prices: bool) -> dict[str, Any]:
    from mlinfra.engine import plan as planning
    from mlinfra.engine.cost import instance_types
    from mlinfra.engine.runner import run_offline

    with err.status(f"planning {escape(name)} offline…") as status:
        run = run_offline(
            project_dir,
            name,
            progress=lambda n: status.update(f"planning {escape(name)} offline… {n} resources registered"),
        )
    doc = planning.plan_document(run)
    if live_prices:
        from mlinfra.engine.live_prices import fetch_ec2_hourly, fetch_spot_hourly
        from mlinfra.engine.pricers.karpenter import spot_pool_types

        region = run.deployment.settings.region
        with err.status(f"asking the AWS Price List API for {escape(name)}…"):
            rates = fetch_ec2_hourly(region, instance_types(doc))
        spot: dict[str, float] = {}
        if spot_types := spot_pool_types(doc["resources"]):  # no spot pool: no spot question to ask
            with err.status(f"asking EC2 for {escape(name)}'s spot prices…"):
                spot = fetch_spot_hourly(region, spot_types)
        doc = planning.plan_document(run, ec2_prices=rates, spot_prices=spot)
    return doc


@app.command()
def plan(
    stack: Annotated[list[str], typer.Option("--stack", "-s", help="Stack(s) to plan.")],
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
    project_dir: ProjectDir = Path(),
    live_prices: LivePrices = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 on unsuppressed policy violations.")] = False,
    wide: Wide = False,
) -> None:
    """Run the stack's Pulumi program offline: every resource `pulumi up` would create, cost, policies."""
    from mlinfra.engine import plan as planning
    from mlinfra.engine import report, terminal

    try:
        docs = [_plan(project_dir, name, live_prices) for name in stack]
    except MlinfraError as exc:
        _fail(exc)
    if fmt is Format.json:
        sys.stdout.write(planning.to_json(docs[0] if len(docs) == 1 else {"stacks": docs}))
    for doc in docs if fmt is not Format.json else []:
        if fmt is Format.markdown:
            sys.stdout.write(report.plan_markdown(doc) + "\n")
        else:
            out.print(terminal.plan_tree(doc, width=None if wide else out.width))
    if strict and any(not d["policies"]["passed"] for d in docs):
        raise typer.Exit(1)


@app.command()
def render(
    stack: Annotated[str, typer.Option("--stack", "-s", help="Stack to render.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")],
    project_dir: ProjectDir = Path(),
) -> None:
    """Write what the cloud would receive: Kubernetes YAML, ECS/IAM JSON, rules, build contexts."""
    from mlinfra.engine.render import check_out_dir
    from mlinfra.engine.render import render as render_run
    from mlinfra.engine.runner import run_offline

    try:
        check_out_dir(Path(os.path.abspath(out_dir)))
        with err.status(f"rendering {escape(stack)} offline…") as status:
            result = render_run(
                run_offline(
                    project_dir,
                    stack,
                    progress=lambda n: status.update(f"rendering {escape(stack)} offline… {n} resources registered"),
                ),
                out_dir,
            )
    except MlinfraError as exc:
        _fail(exc)
    tops = sorted({f.split("/", 1)[0] for f in result.files})
    counts = ", ".join(f"{t}: {sum(f.startswith(t + '/') for f in result.files)}" for t in tops)
    out.print(f"rendered {stack} to {out_dir} ({counts})", markup=False)


@app.command()
def diff(
    stacks: Annotated[Optional[list[str]], typer.Argument(help="Two stacks: A B.")] = None,  # noqa: UP045
    base: Annotated[Optional[str], typer.Option("--base", help="Git ref to diff the working tree against.")] = None,  # noqa: UP045
    stack: Annotated[Optional[str], typer.Option("--stack", "-s", help="Stack for --base.")] = None,  # noqa: UP045
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
    project_dir: ProjectDir = Path(),
    wide: Wide = False,
) -> None:
    """Desired-state diff: two stacks (`diff staging prod`) or the working tree vs a git ref (`--base`)."""
    from mlinfra.engine import plan as planning
    from mlinfra.engine import report, terminal
    from mlinfra.engine.diff import diff_documents

    try:
        if base is not None and stack is not None and not stacks:
            from mlinfra.engine.cost import estimate, load_prices
            from mlinfra.engine.gitref import plan_at

            doc_b = _plan(project_dir, stack, False)
            with err.status(f"planning {escape(stack)} at {escape(base)} in a temporary worktree…"):
                doc_a = plan_at(project_dir, base, stack)
            # Price both sides with the same table, whatever the base revision shipped.
            doc_a["cost"] = estimate(doc_a, load_prices(doc_b["cost"]["prices"]["region"]))
            result = diff_documents(doc_a, doc_b, label_a=f"{stack}@{base}", label_b=f"{stack} (working tree)")
        elif base is None and stack is None and stacks and len(stacks) == 2:
            result = diff_documents(_plan(project_dir, stacks[0], False), _plan(project_dir, stacks[1], False))
        else:
            raise SpecError(
                [
                    Problem(
                        "(command line)",
                        "mlinfra diff",
                        " ".join(stacks or []) or MISSING,
                        "either two stacks (`mlinfra diff staging prod`) or `--base GITREF --stack STACK`",
                    )
                ]
            )
    except MlinfraError as exc:
        _fail(exc)
    if fmt is Format.json:
        sys.stdout.write(planning.to_json(result))
    elif fmt is Format.markdown:
        sys.stdout.write(report.diff_markdown(result))
    else:
        out.print(terminal.diff_tree(result, width=None if wide else out.width))


def _short(ref: str | None) -> str:
    if ref is None:
        return "its own newest build"
    repo, _, digest = ref.rpartition("@")
    return f"{repo.rsplit('/', 1)[-1]}@{digest[:19]}…"


@app.command()
def rollback(
    stack: Annotated[str, typer.Option("--stack", "-s", help="Stack to roll back.")],
    service: Annotated[str, typer.Option("--service", help="Service to roll back.")],
    to: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--to", help="Image digest (sha256:...) to pin; default: the image before the current one."),
    ] = None,
    project_dir: ProjectDir = Path(),
) -> None:
    """Pin a service to its previous (or a named) image from ECR's history, for the next `pulumi up`."""
    from mlinfra.engine.release import rollback as roll_back

    try:
        with err.status(f"reading {escape(service)}'s image history from ECR…"):
            change = roll_back(project_dir, stack, service, to)
    except MlinfraError as exc:
        _fail(exc)
    out.print(
        f"{stack}: {service} pinned to {change.after} (was {_short(change.before)}); "
        f"`pulumi up --stack {stack}` deploys it without a build",
        markup=False,
    )


@app.command()
def promote(
    source: Annotated[str, typer.Option("--from", help="Stack whose images passed (e.g. staging).")],
    target: Annotated[str, typer.Option("--to", help="Stack to pin them in (e.g. prod).")],
    project_dir: ProjectDir = Path(),
) -> None:
    """Pin every service of one stack to exactly the image another stack runs (by digest)."""
    from mlinfra.engine.release import promote as promote_images

    try:
        with err.status(f"reading {escape(source)}'s images from ECR…"):
            changes = promote_images(project_dir, source, target)
    except MlinfraError as exc:
        _fail(exc)
    for change in changes:
        verb = "unchanged" if change.before == change.after else f"was {_short(change.before)}"
        out.print(f"{target}: {change.service} pinned to {change.after} ({verb})", markup=False)
    out.print(f"`pulumi up --stack {target}` deploys them without a build", markup=False)


@app.command()
def serve(
    target: Annotated[str, typer.Argument(help="services/<file>.py or a model URI (s3://, https://, file://, path).")],
    port: Annotated[int, typer.Option("--port", "-p")] = 8080,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    service: Annotated[Optional[str], typer.Option("--service", help="Which service of the file.")] = None,  # noqa: UP045
) -> None:
    """Run the serving runtime locally, exactly as the image runs it."""
    from mlinfra.serving.local import serve_local

    def from_declaration(path: Path) -> dict[str, Any]:
        from mlinfra.components.contract import DEFAULT_ALB_IDLE_TIMEOUT_S, runtime_env
        from mlinfra.serving.contract import ENV_PREFIX, MODEL_CACHE_DIR_ENV, settings_field
        from mlinfra.spec.loader import load_service_file

        spec = load_service_file(path, service)
        # The same settings a deployed replica gets, minus where it caches the model (a
        # deployed replica's scratch volume); the team's own env is not the runtime's.
        env = runtime_env(spec, alb_idle_timeout_s=DEFAULT_ALB_IDLE_TIMEOUT_S)
        return {settings_field(k): v for k, v in env.items() if k.startswith(ENV_PREFIX) and k != MODEL_CACHE_DIR_ENV}

    try:
        code = serve_local(target, port=port, host=host, service_loader=from_declaration)
    except MlinfraError as exc:
        _fail(exc)
    except OSError as exc:
        if not _is_listen_error(exc):
            raise
        _fail(
            SpecError(
                [
                    Problem(
                        "(command line)",
                        "--host/--port",
                        f"{host}:{port}",
                        f"an address this machine can listen on ({exc.strerror or exc}); "
                        "allowed: a free port from 1024 to 65535 on a local address",
                    )
                ]
            )
        )
    raise typer.Exit(code)


def _is_listen_error(exc: OSError) -> bool:
    import errno
    import socket

    return isinstance(exc, socket.gaierror) or exc.errno in (
        errno.EADDRINUSE,
        errno.EADDRNOTAVAIL,
        errno.EACCES,
        errno.EINVAL,
    )


def main() -> None:
    try:
        app()
    except MlinfraError as exc:  # anything not caught by a command
        try:
            _fail(exc)
        except typer.Exit as done:
            sys.exit(done.exit_code)
    except KeyboardInterrupt:
        err.print(Text("error: interrupted"))
        sys.exit(130)
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
