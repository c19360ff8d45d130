"""The module graph keeps its seams: platforms do not import each other, components do not
import the input pipeline, the runtime contract imports nothing of the SDK."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mlinfra
from mlinfra import errors
from mlinfra.spec import errors as spec_errors

PACKAGE = Path(mlinfra.__file__).parent
EKS = {"eks_platform", "eks_cluster", "addons", "k8s_service", "irsa"}
ECS = {"ecs_platform", "ecs_cluster", "ecs_alb", "ecs_service", "ecs_task", "ecs_monitoring"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def _component(name: str) -> Path:
    return PACKAGE / "components" / f"{name}.py"


@pytest.mark.parametrize(("mine", "theirs"), [(EKS, ECS), (ECS, EKS)])
def test_no_platform_imports_the_other(mine: set[str], theirs: set[str]) -> None:
    for name in sorted(mine):
        crossing = {
            i for i in _imports(_component(name)) if i.removeprefix("mlinfra.components.").split(".")[0] in theirs
        }
        assert crossing == set(), f"components/{name}.py imports {sorted(crossing)}"


def test_components_never_import_the_loader() -> None:
    for path in sorted((PACKAGE / "components").glob("*.py")):
        assert not {i for i in _imports(path) if i.startswith("mlinfra.spec.loader")}, path.name


def test_runtime_contract_is_standard_library_only() -> None:
    for name in ("contract", "frameworks"):
        imported = _imports(PACKAGE / "serving" / f"{name}.py")
        outside = {
            i for i in imported if not i.startswith(("__future__", "mlinfra.serving.contract", "urllib", "pathlib"))
        }
        assert outside == set(), f"serving/{name}.py imports {sorted(outside)}"


def test_spec_has_no_private_cross_imports_or_hidden_cycles() -> None:
    for path in sorted((PACKAGE / "spec").rglob("*.py")):
        text = path.read_text()
        assert "TYPE_CHECKING" not in text, path.name
        assert not any(
            i.split(".")[-1].startswith("_") and i.startswith("mlinfra.")
            for i in _imports(path)
            if i.count(".") >= 2 and not i.endswith("__init__")
        ), path.name


def test_one_error_tree() -> None:
    roots = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.MlinfraError)]
    assert {c.__name__ for c in roots} >= {
        "MlinfraError",
        "SpecError",
        "RenderError",
        "LivePricesError",
        "GitRefError",
        "BuildContextError",
        "ComponentError",
        "ReleaseError",
        "PinWriteError",
    }
    doc = errors.__doc__ or ""
    assert all(c.__name__ in doc for c in roots), "every error is drawn in the module's tree"
    assert spec_errors.SpecError is errors.SpecError
    assert spec_errors.Problem is errors.Problem
    from mlinfra.engine.live_prices import LivePricesError
    from mlinfra.engine.render import RenderError

    assert (RenderError, LivePricesError) == (errors.RenderError, errors.LivePricesError)
    from mlinfra.engine.release import ReleaseError
    from mlinfra.engine.release_pins import PinWriteError

    assert (ReleaseError, PinWriteError) == (errors.ReleaseError, errors.PinWriteError)


def test_bad_build_context_is_an_sdk_error(tmp_path: Path) -> None:
    from mlinfra.image.context import build_context_framework, write_build_context

    with pytest.raises(errors.BuildContextError, match="framework 'keras'"):
        write_build_context(
            tmp_path / "ctx", service="fraud", model_uri="s3://b/m/model.skops", framework="keras", gpu=False
        )
    with pytest.raises(errors.MlinfraError, match="cannot tell the framework"):
        build_context_framework("s3://b/m/model.bin")
