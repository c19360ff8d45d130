"""Command-line failures that are not a bad declaration: the program file, the output
directory, the listen address. Each is exit 2 with one message and no traceback; a failed
render leaves the previous output exactly as it was."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from tests.gate.forked_cli import run_cli

pytestmark = pytest.mark.slow


def _plan(project: Path) -> tuple[int, str]:
    result = run_cli("plan", "--stack", "staging", "--format", "json", "-C", str(project))
    return result.returncode, result.stdout + result.stderr


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("raise RuntimeError('program broke')\n", "__main__.py:1: (module) = 'RuntimeError'"),
        ("import sys\nsys.exit(0)\n", "__main__.py:2: (module) = 'SystemExit'"),
        ("import os\nos._exit(0)\n", "calls os._exit(0)"),
        ("raise KeyboardInterrupt\n", "was interrupted"),
    ],
    ids=["raises", "sys-exit", "os-exit", "interrupt"],
)
def test_program_file_that_stops_is_exit_2(project: Path, body: str, expected: str) -> None:
    (project / "__main__.py").write_text(body)
    code, output = _plan(project)
    assert code == 2, output
    assert expected in output
    assert "Traceback" not in output


def test_missing_program_file_is_exit_2(project: Path) -> None:
    (project / "__main__.py").unlink()
    code, output = _plan(project)
    assert (code, "Traceback" in output) == (2, False), output
    assert "__main__.py: (file) = (missing): the project's Pulumi program" in output


def _render(project: Path, out: Path) -> tuple[int, str]:
    result = run_cli("render", "--stack", "staging", "--out", str(out), "-C", str(project))
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("where", ["under-a-file", "unwritable"])
def test_render_to_an_impossible_place_is_exit_2(project: Path, tmp_path: Path, where: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    # /proc refuses new directories even to root, so this holds when the tests run as root.
    out = blocker / "out" if where == "under-a-file" else Path("/proc/mlinfra-render-test/out")
    code, output = _render(project, out)
    assert code == 2, output
    assert "Traceback" not in output
    assert f"--out {out}: cannot create it" in output


def test_failed_render_leaves_the_previous_output_intact(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = _render(project, out)
    assert code == 0, output
    (out / "NOTES.md").write_text("kept: render owns only its own sub-directories\n")
    before = _tree(out)
    # A program that registers an IAM policy whose document is not JSON fails part-way
    # through writing (after kubernetes/ and before iam/ is complete).
    main = project / "__main__.py"
    main.write_text(main.read_text() + "\nimport pulumi_aws as aws\naws.iam.Policy('zz-broken', policy='not json')\n")
    code, output = _render(project, out)
    assert code == 2, output
    assert "aws:iam/policy:Policy zz-broken: input 'policy' is not valid JSON" in output
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "project"]


def test_render_replaces_an_owned_directory_that_became_a_file(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _render(project, out)[0] == 0
    (out / "notes.txt").write_text("mine\n")
    for child in sorted((out / "iam").iterdir()):
        child.unlink()
    (out / "iam").rmdir()
    (out / "iam").write_text("not a directory any more\n")
    code, output = _render(project, out)
    assert code == 0, output
    assert (out / "iam").is_dir()
    assert any((out / "iam").iterdir())
    assert (out / "notes.txt").read_text() == "mine\n"


def test_build_contexts_stay_under_the_project_whatever_a_services_file_does(project: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (project / "services" / "zz_wander.py").write_text(
        f"import os\nos.chdir({str(elsewhere)!r})\n"
        "from mlinfra import ModelService\n"
        "ModelService('wanderer', model_uri='s3://acme-models/w/v1/model.onnx', replicas=1)\n"
    )
    out = tmp_path / "out"
    code, output = _render(project, out)
    assert code == 0, output
    assert list(elsewhere.iterdir()) == []
    assert (project / ".mlinfra" / "build" / "staging" / "wanderer" / "Dockerfile").is_file()
    assert (out / "images" / "wanderer" / "Dockerfile").is_file()


def test_serve_on_a_busy_port_or_unknown_host_is_exit_2(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"not loaded: the address is refused first")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = run_cli("serve", str(model), "--port", str(port))
    unknown = run_cli("serve", str(model), "--host", "no-such-host.invalid")
    for result, shown in ((taken, f"127.0.0.1:{port}"), (unknown, "no-such-host.invalid:8080")):
        output = result.stdout + result.stderr
        assert result.returncode == 2, output
        assert "Traceback" not in output
        assert f"(command line): --host/--port = '{shown}': an address this machine can listen on" in output


def test_ecs_rule_on_an_overridden_value_points_at_the_stack_file(project: Path) -> None:
    stack = project / "stacks" / "Pulumi.dev.yaml"
    doc = yaml.safe_load(stack.read_text())
    doc["config"]["mlinfra:services"]["search-ranker"].update(requestTimeoutSeconds=300, port=4317)
    stack.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = run_cli("plan", "--stack", "dev", "--format", "json", "-C", str(project))
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "stacks/Pulumi.dev.yaml: mlinfra:services.search-ranker.requestTimeoutSeconds = 300" in output
    assert "stacks/Pulumi.dev.yaml: mlinfra:services.search-ranker.port = 4317" in output
    assert "services/ranker.py" not in output


@pytest.mark.parametrize("name", ["[a, b]", "''", "'my project!'"])
def test_project_name_must_be_a_pulumi_project_name(project: Path, name: str) -> None:
    pulumi_yaml = project / "Pulumi.yaml"
    pulumi_yaml.write_text(pulumi_yaml.read_text().replace("name: mlinfra", f"name: {name}", 1))
    code, output = _plan(project)
    assert code == 2, output
    assert "Pulumi.yaml: name = " in output
    assert "Traceback" not in output
