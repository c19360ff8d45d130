"""Spec validation: every problem at once, each naming file, field, value and what is allowed."""

from __future__ import annotations

import pytest

from mlinfra.spec.errors import SpecError
from mlinfra.spec.loader import load_deployment, read_stack_file
from mlinfra.spec.quantities import format_cpu, format_memory, parse_cpu_millicores, parse_memory_mib
from mlinfra.spec.service import ServiceSpec, infer_framework
from tests.core.conftest import STACK_HEADER


def _load(project, services: str, stack: str = STACK_HEADER):  # type: ignore[no-untyped-def]
    root = project(services={"svc.py": "from mlinfra import ModelService\n" + services}, stacks={"s": stack})
    return load_deployment(root, "mlinfra", "s", read_stack_file(root, "s"))


def _problems(project, services: str, stack: str = STACK_HEADER) -> list[str]:  # type: ignore[no-untyped-def]
    with pytest.raises(SpecError) as info:
        _load(project, services, stack)
    return [p.render() for p in info.value.problems]


@pytest.mark.parametrize(("value", "millis"), [(1, 1000), (0.5, 500), ("250m", 250), ("2", 2000)])
def test_cpu_quantities(value: object, millis: int) -> None:
    assert parse_cpu_millicores(value) == millis


@pytest.mark.parametrize(("value", "mib"), [("2Gi", 2048), ("512Mi", 512), (1024, 1024), ("1Ti", 1048576)])
def test_memory_quantities(value: object, mib: int) -> None:
    assert parse_memory_mib(value) == mib


@pytest.mark.parametrize("bad", ["two", "-1", True, "1.5m", "0"])
def test_bad_cpu_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="cpu"):
        parse_cpu_millicores(bad)


def test_quantities_round_trip() -> None:
    assert (format_cpu(1500), format_cpu(2000), format_memory(3072), format_memory(1536)) == (
        "1500m",
        "2",
        "3Gi",
        "1536Mi",
    )


def test_framework_inferred_from_extension() -> None:
    assert infer_framework("s3://b/m/model.onnx") == "onnx"
    assert infer_framework("https://h/x.skops?v=1") == "sklearn"
    assert infer_framework("s3://b/m/model.bin") is None
    spec = ServiceSpec(name="a", model_uri="s3://bucket/p/m.pt", gpu=True)
    assert (spec.framework, spec.gpu, spec.cpu, spec.memory) == ("torchscript", "a10g", 3000, 12288)


def test_override_changes_a_field(project) -> None:  # type: ignore[no-untyped-def]
    stack = STACK_HEADER + "  mlinfra:services:\n    a:\n      replicas: 1\n      memory: 4Gi\n"
    (spec,) = _load(project, 'ModelService("a", model_uri="s3://bkt/x/m.onnx", replicas=4)\n', stack).services
    assert (spec.replicas, spec.memory) == (1, 4096)


def test_all_problems_reported_at_once(project) -> None:  # type: ignore[no-untyped-def]
    problems = _problems(
        project,
        (
            'ModelService("Bad_Name", model_uri="gs://x/y.onnx", replicas=0)\n'
            'ModelService("b", model_uri="s3://bkt/m/model.onnx", autoscaling={"min_replicas": 5, "max_replicas": 2})\n'
            'ModelService("c", model_uri="s3://bkt/m/model.onnx", gpu="l4")\n'
            'ModelService("d", model_uri="s3://bkt/m/model.onnx", replica=3)\n'
        ),
        STACK_HEADER + "  mlinfra:bogus: 1\n  mlinfra:services:\n    ghost:\n      replicas: 1\n",
    )
    text = "\n".join(problems)
    assert "services/svc.py:2: ModelService('Bad_Name').name = 'Bad_Name': must be a DNS-1035 label" in text
    assert "model_uri = 'gs://x/y.onnx': unknown scheme 'gs'; allowed: s3://" in text
    assert "ModelService('Bad_Name').replicas = 0: Input should be greater than or equal to 1" in text
    assert "min_replicas (5) must be <= max_replicas (2)" in text
    assert "services/svc.py:5: ModelService('d').replica = 3: unknown field; allowed fields:" in text
    assert "stacks/Pulumi.s.yaml: mlinfra:bogus = 1: unknown mlinfra: key; allowed keys:" in text


def test_stack_level_problems_need_valid_settings_then_are_reported(project) -> None:  # type: ignore[no-untyped-def]
    text = "\n".join(
        _problems(
            project,
            ('ModelService("c", model_uri="s3://bkt/m/model.onnx", gpu="l4", secrets=["nope"])\n'),
            STACK_HEADER + "  mlinfra:services:\n    ghost:\n      replicas: 1\n",
        )
    )
    assert "mlinfra:services.ghost = 'ghost': override of an unknown service; declared services: c" in text
    assert "ModelService('c').gpu = 'l4': stack has no node pool for l4 GPU services" in text
    assert "ModelService('c').secrets = 'nope': not defined in stacks/Pulumi.s.yaml" in text


def test_override_problem_points_at_the_stack_file(project) -> None:  # type: ignore[no-untyped-def]
    stack = STACK_HEADER + "  mlinfra:services:\n    a:\n      replicas: 0\n      gpuCount: x\n"
    text = "\n".join(_problems(project, 'ModelService("a", model_uri="s3://bkt/x/m.onnx")\n', stack))
    assert "stacks/Pulumi.s.yaml: mlinfra:services.a.replicas = 0" in text
    assert "stacks/Pulumi.s.yaml: mlinfra:services.a.gpuCount = 'x'" in text


def test_duplicate_names_and_pickles_and_public_without_auth(project) -> None:  # type: ignore[no-untyped-def]
    text = "\n".join(
        _problems(
            project,
            (
                'ModelService("a", model_uri="s3://bkt/x/m.onnx")\n'
                'ModelService("a", model_uri="s3://bkt/x/m.onnx")\n'
                'ModelService("p", model_uri="s3://bkt/x/m.joblib")\n'
                'ModelService("q", model_uri="s3://bkt/x/m.onnx", public=True)\n'
                'ModelService("r", model_uri="s3://bkt/x/m.bin")\n'
                'ModelService("this-name-is-far-too-long", model_uri="s3://bkt/x/m.onnx")\n'
            ),
        )
    )
    assert "services/svc.py:3: name = 'a': service names must be unique; also declared at services/svc.py:2" in text
    assert "ModelService('p').trusted_pickle = False: joblib/pickle models can run arbitrary code" in text
    assert "ModelService('q').auth = 'none': a public endpoint requires authentication; allowed: api_key" in text
    assert "ModelService('r').framework = None: cannot be inferred" in text
    assert "of at most 20 characters" in text


def test_stack_field_errors_name_the_key_and_allowed_values(project) -> None:  # type: ignore[no-untyped-def]
    stack = STACK_HEADER.replace("mlinfra:tier: staging", "mlinfra:tier: production").replace(
        "  mlinfra:eks:\n",
        "  mlinfra:eks:\n    version: '1.20'\n    systemNodes: {minSize: 5, maxSize: 2, desiredSize: 3}\n",
    ) + ("  mlinfra:nodePools:\n    g:\n      gpuType: l4\n      instanceTypes: [g5.xlarge]\n")
    text = "\n".join(_problems(project, 'ModelService("a", model_uri="s3://bkt/x/m.onnx")\n', stack))
    assert "mlinfra:tier = 'production': Input should be 'dev', 'staging' or 'prod'" in text
    assert "mlinfra:eks.version = '1.20': '1.20' is not a version EKS creates; allowed: '1.32'" in text
    assert "need min_size <= desired_size <= max_size" in text
    assert "do not carry a l4 GPU; use g6.* types" in text


def test_missing_region_and_malformed_yaml(project) -> None:  # type: ignore[no-untyped-def]
    text = "\n".join(
        _problems(
            project,
            'ModelService("a", model_uri="s3://bkt/x/m.onnx")\n',
            STACK_HEADER.replace("  aws:region: us-east-1\n", ""),
        )
    )
    assert "aws:region = (missing): the AWS region" in text
    text = "\n".join(
        _problems(
            project, 'ModelService("a", model_uri="s3://bkt/x/m.onnx")\n', STACK_HEADER + "  mlinfra:vpc: [unclosed\n"
        )
    )
    assert "stacks/Pulumi.s.yaml: (YAML syntax, line" in text
