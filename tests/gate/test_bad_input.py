"""Table-driven bad input: each case makes `mlinfra plan` exit 2 with one line naming the file,
the field and what is allowed, and no traceback; each near-miss still plans (exit 0).

Every case edits a fresh copy of the example project (services/fraud.py, services/ranker.py,
stacks/Pulumi.staging.yaml) and runs the real CLI entry point in a forked child
(`tests/gate/forked_cli.py`); `test_forked_runner_matches_a_fresh_interpreter` holds that
runner to the installed `mlinfra` command.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.gate.conftest import mlinfra
from tests.gate.forked_cli import run_cli

pytestmark = pytest.mark.slow
STACK = "stacks/Pulumi.staging.yaml"
FRAUD = "services/fraud.py"
RANKER = "services/ranker.py"
Edit = Callable[[Path], None]


def replace(file: str, old: str, new: str) -> Edit:
    def edit(root: Path) -> None:
        text = (root / file).read_text()
        assert old in text, f"{old!r} not in {file}"
        (root / file).write_text(text.replace(old, new, 1))

    return edit


def fraud_arg(new_line: str) -> Edit:
    """Add one keyword argument to the fraud-detector declaration."""
    return replace(FRAUD, "    expected_load_seconds=20,\n", f"    expected_load_seconds=20,\n    {new_line},\n")


def both(*edits: Edit) -> Edit:
    def edit(root: Path) -> None:
        for one in edits:
            one(root)

    return edit


def write(file: str, text: str) -> Edit:
    def edit(root: Path) -> None:
        (root / file).write_text(text)

    return edit


def config(path: str, value: Any) -> Edit:
    """Set (or with value=DELETE remove) `config.<key>[.sub...]` in the staging stack file."""

    def edit(root: Path) -> None:
        doc = yaml.safe_load((root / STACK).read_text())
        key, *rest = path.split("/")
        node = doc["config"]
        parents = [key, *rest]
        for part in parents[:-1]:
            node = node.setdefault(part, {})
        if value is DELETE:
            del node[parents[-1]]
        else:
            node[parents[-1]] = value
        (root / STACK).write_text(yaml.safe_dump(doc, sort_keys=False))

    return edit


DELETE = object()


@dataclass(frozen=True)
class Bad:
    id: str
    edit: Edit
    file: str
    field: str
    allowed: str


CASES = [
    # --- names -----------------------------------------------------------------------------
    Bad("name-uppercase", replace(FRAUD, '"fraud-detector"', '"Fraud_Detector"'), FRAUD, ".name", "DNS-1035"),
    Bad(
        "name-too-long",
        replace(RANKER, '"search-ranker"', '"search-ranker-abcdefgh"'),
        RANKER,
        ".name",
        "at most 20 characters",
    ),
    Bad(
        "name-leading-digit", replace(RANKER, '"search-ranker"', '"1ranker"'), RANKER, ".name", "starting with a letter"
    ),
    Bad("name-trailing-dash", replace(RANKER, '"search-ranker"', '"ranker-"'), RANKER, ".name", "not ending with '-'"),
    Bad(
        "duplicate-name",
        write(
            "services/copy.py",
            "from mlinfra import ModelService\n\n"
            'ModelService("search-ranker", model_uri="s3://acme-models/r/m.onnx")\n',
        ),
        RANKER,
        ": name = 'search-ranker'",
        "must be unique; also declared at services/copy.py",
    ),
    Bad(
        "override-unknown-service",
        config("mlinfra:services/ghost", {"replicas": 2}),
        STACK,
        "mlinfra:services.ghost",
        "declared services: fraud-detector, search-ranker",
    ),
    # --- sizes -----------------------------------------------------------------------------
    Bad("cpu-negative", replace(FRAUD, 'cpu="1"', 'cpu="-1"'), FRAUD, ".cpu", "number of cores"),
    Bad("cpu-garbage", replace(FRAUD, 'cpu="1"', 'cpu="1.5x"'), FRAUD, ".cpu", "millicores ('500m')"),
    Bad("memory-wrong-unit", replace(FRAUD, 'memory="2Gi"', 'memory="2GB"'), FRAUD, ".memory", "'512Mi' or '2Gi'"),
    Bad("memory-no-unit", replace(FRAUD, 'memory="2Gi"', 'memory="2048"'), FRAUD, ".memory", "needs a unit"),
    Bad(
        "replicas-zero-override",
        config("mlinfra:services/search-ranker/replicas", 0),
        STACK,
        "mlinfra:services.search-ranker.replicas",
        "greater than or equal to 1",
    ),
    Bad(
        "batch-wrong-type",
        replace(RANKER, "max_batch_size=64", 'max_batch_size="lots"'),
        RANKER,
        ".max_batch_size",
        "valid integer",
    ),
    Bad("port-privileged", fraud_arg("port=80"), FRAUD, ".port", "greater than or equal to 1024"),
    Bad(
        "load-seconds-zero",
        replace(FRAUD, "expected_load_seconds=20", "expected_load_seconds=0"),
        FRAUD,
        ".expected_load_seconds",
        "greater than or equal to 1",
    ),
    Bad("timeout-zero", fraud_arg("request_timeout_seconds=0"), FRAUD, ".request_timeout_seconds", "greater than 0"),
    Bad(
        "batch-too-big",
        replace(RANKER, "max_batch_size=64", "max_batch_size=5000"),
        RANKER,
        ".max_batch_size",
        "less than or equal to 1024",
    ),
    # --- GPU and capacity ------------------------------------------------------------------
    Bad("gpu-unknown-type", replace(RANKER, "gpu=True", 'gpu="h100"'), RANKER, ".gpu", "'a10g', 'l4', 't4', 'l40s'"),
    Bad(
        "gpu-no-capacity-for-type",
        replace(RANKER, "gpu=True", 'gpu="l4"'),
        RANKER,
        ".gpu",
        "pools in stacks/Pulumi.staging.yaml (mlinfra:nodePools) serve: CPU, a10g",
    ),
    Bad("gpu-stack-without-gpu-nodes", config("mlinfra:nodePools/gpu-a10g", DELETE), RANKER, ".gpu", "serve: CPU."),
    Bad(
        "gpu-count-too-high",
        replace(RANKER, "gpu=True", "gpu=True, gpu_count=9"),
        RANKER,
        ".gpu_count",
        "less than or equal to 8",
    ),
    Bad(
        "gpu-nodes-wrong-family",
        config("mlinfra:nodePools/gpu-a10g/instanceTypes", ["m6i.xlarge"]),
        STACK,
        "mlinfra:nodePools.gpu-a10g",
        "use g5.* types",
    ),
    Bad(
        "gpu-node-groups-retired",
        config("mlinfra:gpuNodeGroups", {"gpu-a10g": {"gpuType": "a10g", "minSize": 0, "maxSize": 2}}),
        STACK,
        "mlinfra:gpuNodeGroups",
        "replaced by Karpenter node pools",
    ),
    # --- model URIs ------------------------------------------------------------------------
    Bad(
        "uri-unknown-scheme",
        replace(RANKER, "s3://acme-models/ranker/v3/model.pt", "gs://acme/ranker/model.pt"),
        RANKER,
        ".model_uri",
        "allowed: s3://bucket/key",
    ),
    Bad(
        "uri-s3-no-key",
        replace(RANKER, "s3://acme-models/ranker/v3/model.pt", "s3://acme-models"),
        RANKER,
        ".model_uri",
        "s3://bucket/path/model",
    ),
    Bad(
        "uri-s3-bad-bucket",
        replace(RANKER, "s3://acme-models/", "s3://Acme_Models/"),
        RANKER,
        ".model_uri",
        "valid bucket",
    ),
    Bad(
        "uri-unknown-format",
        replace(RANKER, "model.pt", "model.bin"),
        RANKER,
        ".framework",
        "allowed: sklearn, xgboost, lightgbm, onnx, torchscript, compiled",
    ),
    Bad(
        "compiled-framework-on-a-model-file",
        fraud_arg('framework="compiled"'),
        FRAUD,
        ".framework",
        "is only served as framework 'compiled'",
    ),
    Bad(
        "compiled-model-on-a-gpu",
        replace(RANKER, "model.pt", "model.skops.mlinfra.npz"),
        RANKER,
        ".gpu",
        "runs on the CPU with numpy",
    ),
    Bad(
        "uri-pickle-untrusted",
        replace(FRAUD, "model.skops", "model.joblib"),
        FRAUD,
        ".trusted_pickle",
        "set trusted_pickle=True",
    ),
    Bad(
        "uri-local-not-baked",
        replace(RANKER, "s3://acme-models/ranker/v3/model.pt", "models/model.pt"),
        RANKER,
        ".bake_model",
        "set bake_model=True",
    ),
    Bad(
        "sha256-malformed",
        replace(FRAUD, 'model_sha256="3f7a', 'model_sha256="XYZ'),
        FRAUD,
        ".model_sha256",
        "64 hex characters",
    ),
    # --- autoscaling -----------------------------------------------------------------------
    # The staging override replaces the declared autoscaling, so drop it to reach the declaration.
    Bad(
        "autoscaling-min-above-max",
        both(
            replace(FRAUD, '"min_replicas": 3', '"min_replicas": 30'), config("mlinfra:services/fraud-detector", DELETE)
        ),
        FRAUD,
        ".autoscaling",
        "must be <= max_replicas",
    ),
    Bad(
        "autoscaling-target-too-high",
        both(
            replace(FRAUD, '"target_cpu_percent": 60', '"target_cpu_percent": 99'),
            config("mlinfra:services/fraud-detector", DELETE),
        ),
        FRAUD,
        ".autoscaling.target_cpu_percent",
        "less than or equal to 95",
    ),
    Bad(
        "autoscaling-unknown-key",
        config("mlinfra:services/fraud-detector/autoscaling/maxReplica", 4),
        STACK,
        "mlinfra:services.fraud-detector.autoscaling.maxReplica",
        "allowed fields: maxReplicas, minReplicas",
    ),
    # --- unknown fields and wrong types ----------------------------------------------------
    Bad("service-unknown-field", fraud_arg("replica=3"), FRAUD, ".replica", "allowed fields: allowed_cidrs"),
    Bad(
        "override-unknown-field",
        config("mlinfra:services/search-ranker/replica", 3),
        STACK,
        "mlinfra:services.search-ranker.replica",
        "allowed fields: allowedCidrs",
    ),
    Bad("stack-unknown-key", config("mlinfra:tierr", "prod"), STACK, "mlinfra:tierr", "allowed keys: mlinfra:"),
    Bad("tier-invalid", config("mlinfra:tier", "production"), STACK, "mlinfra:tier", "'dev', 'staging' or 'prod'"),
    Bad("platform-invalid", config("mlinfra:platform", "gke"), STACK, "mlinfra:platform", "'eks' or 'ecs'"),
    Bad("public-flag-wrong-type", fraud_arg('public="yes please"'), FRAUD, ".public", "valid boolean"),
    Bad("env-reserved-prefix", replace(FRAUD, '"LOG_LEVEL"', '"MLINFRA_PORT"'), FRAUD, ".env", "reserved MLINFRA_"),
    # --- stack settings --------------------------------------------------------------------
    Bad(
        "certificate-not-acm",
        config("mlinfra:certificateArn", "arn:aws:iam::123:cert/x"),
        STACK,
        "mlinfra:certificateArn",
        "arn:aws:acm:<region>:<account>:certificate/<uuid>",
    ),
    Bad("domain-uppercase", config("mlinfra:domain", "ML.Example"), STACK, "mlinfra:domain", "ml.example.com"),
    Bad("domain-missing", config("mlinfra:domain", DELETE), STACK, "mlinfra:domain", "allowed: a lowercase DNS domain"),
    Bad(
        "autoscaling-max-missing",
        both(replace(FRAUD, '"max_replicas": 12, ', ""), config("mlinfra:services/fraud-detector", DELETE)),
        FRAUD,
        ".autoscaling.max_replicas",
        "allowed: an integer from 1 to 1000",
    ),
    Bad("region-missing", config("aws:region", DELETE), STACK, "aws:region", "us-east-1"),
    Bad("region-malformed", config("aws:region", "useast1"), STACK, "mlinfra:region", "us-east-1"),
    Bad("vpc-cidr-invalid", config("mlinfra:vpc/cidr", "10.0.0.0/33"), STACK, "mlinfra:vpc.cidr", "10.0.0.0/16"),
    Bad(
        "vpc-nat-invalid",
        config("mlinfra:vpc/natGateways", "two"),
        STACK,
        "mlinfra:vpc.natGateways",
        "'per_az' or 'single'",
    ),
    Bad(
        "eks-version-unsupported",
        config("mlinfra:eks/version", "1.29"),
        STACK,
        "mlinfra:eks.version",
        "allowed: '1.32', '1.33', '1.34', '1.35', '1.36'",
    ),
    Bad(
        "eks-version-past-standard-support",
        config("mlinfra:eks/version", "1.33"),
        STACK,
        "mlinfra:eks",
        "set extendedSupport: true",
    ),
    Bad(
        "eks-ami-version-not-a-release",
        config("mlinfra:eks/amiVersion", "2026-07-14"),
        STACK,
        "mlinfra:eks.amiVersion",
        "allowed: vYYYYMMDD",
    ),
    Bad(
        "eks-without-deployer-cidrs",
        config("mlinfra:eks/deployerCidrs", DELETE),
        STACK,
        "mlinfra:eks",
        "deployerCidrs is required",
    ),
    Bad(
        "eks-public-to-world",
        config("mlinfra:eks/deployerCidrs", ["0.0.0.0/0"]),
        STACK,
        "mlinfra:eks.deployerCidrs",
        "name your CIDRs",
    ),
    Bad(
        "eks-public-from-private-range",
        config("mlinfra:eks/deployerCidrs", ["10.1.0.0/16"]),
        STACK,
        "mlinfra:eks",
        "allowed: public egress CIDRs, or endpointPublicAccess: false",
    ),
    Bad(
        "eks-without-admins",
        config("mlinfra:eks/admins", DELETE),
        STACK,
        "mlinfra:eks",
        "arn:aws:iam::123456789012:role/deployer",
    ),
    Bad(
        "scale-to-zero-public",
        both(
            fraud_arg('public=True, auth="api_key"'),
            replace(FRAUD, '["fraud-api-key"]', '["api-keys", "fraud-api-key"]'),
            config("mlinfra:secrets/api-keys", "k1"),
            config("mlinfra:services/fraud-detector/autoscaling/minReplicas", 0),
        ),
        FRAUD,
        ".autoscaling.min_replicas",
        "refused for a service that is public",
    ),
    Bad(
        "scale-to-zero-in-prod",
        both(config("mlinfra:tier", "prod"), config("mlinfra:services/fraud-detector/autoscaling/minReplicas", 0)),
        FRAUD,
        ".autoscaling.min_replicas",
        "allowed: an integer from 1 to 1000",
    ),
    Bad(
        "gpu-utilisation-on-a-cpu-service",
        both(
            replace(FRAUD, '"target_cpu_percent": 60', '"target_cpu_percent": 60, "target_gpu_percent": 70'),
            config("mlinfra:services/fraud-detector", DELETE),
        ),
        FRAUD,
        "autoscaling.target_gpu_percent",
        "GPU services only",
    ),
    Bad(
        "eks-too-many-source-cidrs",
        both(
            fraud_arg(
                'public=True, auth="api_key", allowed_cidrs=["203.0.113.0/26", "203.0.113.64/26", '
                '"203.0.113.128/26", "203.0.113.192/26"]'
            ),
            replace(FRAUD, '["fraud-api-key"]', '["api-keys", "fraud-api-key"]'),
            config("mlinfra:secrets/api-keys", "k1"),
        ),
        FRAUD,
        ".allowed_cidrs",
        "at most 3 CIDRs on EKS",
    ),
    Bad(
        "eks-admin-session-arn",
        config("mlinfra:eks/admins", ["arn:aws:sts::123456789012:assumed-role/ci/x"]),
        STACK,
        "mlinfra:eks.admins",
        "not an sts assumed-role session",
    ),
    Bad(
        "secret-arn-malformed",
        config("mlinfra:secretArns", {"fraud-api-key": "not-an-arn"}),
        STACK,
        "mlinfra:secretArns",
        "not Secrets Manager ARNs",
    ),
    Bad(
        "suppression-without-reason",
        config("mlinfra:policy", {"suppressions": [{"id": "K8S001", "reason": "x"}]}),
        STACK,
        "mlinfra:policy.suppressions.0.reason",
        "at least 10 characters",
    ),
    # --- secrets and exposure --------------------------------------------------------------
    Bad(
        "secret-not-defined",
        config("mlinfra:secrets", DELETE),
        FRAUD,
        ".secrets",
        "define it under mlinfra:secrets or mlinfra:secretArns",
    ),
    Bad(
        "secret-name-invalid",
        replace(FRAUD, '["fraud-api-key"]', '["Fraud_Key"]'),
        FRAUD,
        ".secrets",
        "lowercase DNS labels",
    ),
    Bad("public-without-auth", fraud_arg("public=True"), FRAUD, ".auth", "allowed: api_key"),
    Bad("api-key-without-secret", fraud_arg('auth="api_key"'), FRAUD, ".secrets", "add it to secrets"),
    Bad("cidrs-on-internal", fraud_arg('allowed_cidrs=["10.0.0.0/8"]'), FRAUD, ".allowed_cidrs", "set public=True"),
    # --- malformed files -------------------------------------------------------------------
    Bad(
        "stack-yaml-syntax",
        write(STACK, "config:\n  aws:region: [us-east-1\n"),
        STACK,
        "(YAML syntax, line",
        "valid YAML",
    ),
    Bad("stack-config-not-mapping", write(STACK, "config: [1, 2]\n"), STACK, "config", "a mapping of"),
    Bad(
        "service-python-syntax",
        write("services/broken.py", "ModelService(\n"),
        "services/broken.py",
        "(python syntax)",
        "valid Python",
    ),
    Bad(
        "service-missing-uri",
        write("services/nouri.py", 'from mlinfra import ModelService\nModelService("nouri")\n'),
        "services/nouri.py",
        "ModelService(...)",
        "allowed fields:",
    ),
]


def _run_plan(root: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = run_cli("plan", "--stack", "staging", "--format", "json", "-C", str(root), env=env)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_naming_file_field_and_allowed(case: Bad, project: Path) -> None:
    case.edit(project)
    code, output = _run_plan(project)
    assert code == 2, output
    assert "Traceback" not in output
    # One problem line carries all three: where, what, and what would be accepted.
    lines = [line for line in output.splitlines() if case.file in line and case.field in line and case.allowed in line]
    assert lines, f"no line names {case.file!r}, {case.field!r} and {case.allowed!r}:\n{output}"


def test_table_has_at_least_40_distinct_cases() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 40


NEAR_MISSES: dict[str, list[Edit]] = {
    "name-20-chars-and-quantities": [
        write(
            "services/edge.py",
            (
                'from mlinfra import ModelService\n\nModelService("m2345678901234567890", '
                'model_uri="s3://acme-models/edge/v1/model.onnx", cpu="500m", memory="512Mi", replicas=1)\n'
            ),
        )
    ],
    "autoscaling-min-equals-max": [
        replace(
            FRAUD,
            '"min_replicas": 3, "max_replicas": 12, "target_cpu_percent": 60',
            '"min_replicas": 2, "max_replicas": 2, "target_cpu_percent": 95',
        ),
        config("mlinfra:services/fraud-detector", DELETE),
        fraud_arg("port=1024"),
    ],
    # Request rate is a KEDA trigger on EKS (it was refused before KEDA).
    "rps-autoscaling-on-eks": [
        replace(FRAUD, '"target_cpu_percent": 60', '"target_cpu_percent": 60, "target_requests_per_second": 50'),
        config("mlinfra:services/fraud-detector", DELETE),
    ],
    "scale-to-zero-internal-staging": [config("mlinfra:services/fraud-detector/autoscaling/minReplicas", 0)],
    "public-with-api-key": [
        fraud_arg('public=True, auth="api_key", allowed_cidrs=["203.0.113.0/24"]'),
        replace(FRAUD, '["fraud-api-key"]', '["api-keys", "fraud-api-key"]'),
        config("mlinfra:secretArns", {"api-keys": "arn:aws:secretsmanager:us-east-1:123456789012:secret:keys-AbCdEf"}),
    ],
    "pickle-trusted-https": [
        replace(FRAUD, "s3://acme-models/fraud/v12/model.skops", "https://models.example.com/fraud/model.joblib"),
        fraud_arg("trusted_pickle=True"),
    ],
    "explicit-gpu-type-and-dev-tier": [
        replace(RANKER, "gpu=True", 'gpu="a10g", gpu_count=1'),
        config("mlinfra:tier", "dev"),
    ],
    "private-api-server-with-in-vpc-deployer": [
        config("mlinfra:eks/endpointPublicAccess", False),
        config("mlinfra:eks/deployerCidrs", ["10.20.0.0/16"]),
    ],
    "past-standard-support-with-extended-support": [
        config("mlinfra:eks/version", "1.33"),
        config("mlinfra:eks/extendedSupport", True),
    ],
    # Pulumi.yaml's typed default for mlinfra:alerting, as the real engine passes it.
    "alerting-typed-default-empty": [config("mlinfra:alerting", {})],
    "sha256-uppercase-as-the-runtime-accepts": [
        replace(
            FRAUD, 'model_sha256="3f7a1c9e5b2d4f608a1e7c3b9d5f2a4c', 'model_sha256="3F7A1C9E5B2D4F608A1E7C3B9D5F2A4C'
        )
    ],
}


@pytest.mark.parametrize("edits", NEAR_MISSES.values(), ids=list(NEAR_MISSES))
def test_valid_near_miss_still_plans(edits: list[Edit], project: Path) -> None:
    for edit in edits:
        edit(project)
    code, output = _run_plan(project)
    assert code == 0, output


def test_forked_runner_matches_a_fresh_interpreter(project: Path) -> None:
    replace(FRAUD, 'cpu="1"', 'cpu="-1"')(project)
    args = ("plan", "--stack", "staging", "--format", "json", "-C", str(project))
    fresh, forked = mlinfra(*args), run_cli(*args)
    assert (fresh.returncode, fresh.stdout, fresh.stderr) == (forked.returncode, forked.stdout, forked.stderr)
    assert fresh.returncode == 2


# --- hostile input (issue 16) ---------------------------------------------------------------
# Each case also plants a canary as the stack's secret ciphertext: whatever goes wrong, the
# error output must never contain it, must stay short, and must not be a traceback.
CANARY = "canary-4b1d9e7a-never-print"
BAD = "services/zz_bad.py"
MAX_OUTPUT = 20_000


def plant_canary(root: Path) -> None:
    doc = yaml.safe_load((root / STACK).read_text())
    doc["config"]["mlinfra:secrets"] = {"fraud-api-key": {"secure": f"v1:{CANARY}"}}
    (root / STACK).write_text(yaml.safe_dump(doc, sort_keys=False))


def services_file(body: str) -> Edit:
    """A services file of its own: line 1 imports ModelService, `body` starts on line 2."""
    return write(BAD, "from mlinfra import ModelService\n" + body)


def declared(extra: str, uri: str = "s3://acme-models/x/v1/model.onnx") -> Edit:
    """One more service, `zz`, declared on line 2 of its own file with `extra` arguments."""
    return services_file(f'ModelService("zz", model_uri="{uri}"{", " + extra if extra else ""})\n')


def append_config(text: str) -> Edit:
    """Raw YAML appended inside `config:` (the stack file's last mapping), 2-space indented."""

    def edit(root: Path) -> None:
        with (root / STACK).open("a") as handle:
            handle.write(text)

    return edit


def write_bytes(file: str, data: bytes) -> Edit:
    def edit(root: Path) -> None:
        (root / file).write_bytes(data)

    return edit


def make_dir(path: str) -> Edit:
    def edit(root: Path) -> None:
        (root / path).mkdir(parents=True, exist_ok=True)

    return edit


def remove(path: str) -> Edit:
    def edit(root: Path) -> None:
        (root / path).unlink()

    return edit


@dataclass(frozen=True)
class Hostile:
    id: str
    edit: Edit
    file: str
    field: str
    allowed: str
    env: dict[str, str] | None = None
    shown: str | None = None
    """A value that must appear verbatim (markup must not change it)."""


def _bomb(levels: int) -> str:
    lines = ["  mlinfra:zzbomb:\n", '    l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n']
    lines += [f"    l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, levels)]
    return "".join(lines)


FAST_TIMEOUT = {"MLINFRA_SERVICES_TIMEOUT": "1"}
MODULE = "(module)"
SECRET_TEXT = "value not shown"
HOSTILE = [
    # --- a services file that exits, hangs or raises: exit 2 naming the file and line ----------
    Hostile("svc-sys-exit-0", services_file("import sys\nsys.exit(0)\n"), f"{BAD}:3", MODULE, "calls sys.exit(0)"),
    Hostile("svc-sys-exit-1", services_file("import sys\nsys.exit(1)\n"), f"{BAD}:3", MODULE, "calls sys.exit(1)"),
    Hostile(
        "svc-sys-exit-text", services_file("raise SystemExit('bye')\n"), f"{BAD}:2", MODULE, "calls sys.exit('bye')"
    ),
    Hostile("svc-systemexit-bare", services_file("raise SystemExit\n"), f"{BAD}:2", MODULE, "calls sys.exit(None)"),
    Hostile("svc-exit-builtin", services_file("exit(0)\n"), f"{BAD}:2", MODULE, "calls sys.exit(0)"),
    Hostile("svc-quit-builtin", services_file("quit()\n"), f"{BAD}:2", MODULE, "calls sys.exit(None)"),
    Hostile(
        "svc-keyboard-interrupt",
        services_file("raise KeyboardInterrupt\n"),
        f"{BAD}:2",
        MODULE,
        "was interrupted (KeyboardInterrupt)",
    ),
    Hostile("svc-generator-exit", services_file("raise GeneratorExit\n"), f"{BAD}:2", MODULE, "raises GeneratorExit"),
    Hostile("svc-os-exit-0", services_file("import os\nos._exit(0)\n"), f"{BAD}:3", MODULE, "calls os._exit(0)"),
    Hostile("svc-os-exit-3", services_file("import os\nos._exit(3)\n"), f"{BAD}:3", MODULE, "calls os._exit(3)"),
    Hostile(
        "svc-from-os-import-exit",
        services_file("from os import _exit\n_exit(0)\n"),
        f"{BAD}:3",
        MODULE,
        "calls os._exit(0)",
    ),
    Hostile("svc-posix-exit", services_file("import posix\nposix._exit(0)\n"), f"{BAD}:3", MODULE, "calls os._exit(0)"),
    Hostile("svc-os-abort", services_file("import os\nos.abort()\n"), f"{BAD}:3", MODULE, "calls os.abort()"),
    Hostile(
        "svc-exit-after-declaring",
        services_file('ModelService("zz", model_uri="s3://acme-models/x/v1/model.onnx")\nimport sys\nsys.exit(0)\n'),
        f"{BAD}:4",
        MODULE,
        "calls sys.exit(0)",
    ),
    Hostile(
        "svc-exit-in-function",
        services_file("import sys\n\ndef stop():\n    sys.exit(0)\n\nstop()\n"),
        f"{BAD}:5",
        MODULE,
        "calls sys.exit(0)",
    ),
    Hostile(
        "svc-loop-forever",
        services_file("while True:\n    pass\n"),
        BAD,
        MODULE,
        "must finish within 1 s",
        env=FAST_TIMEOUT,
    ),
    Hostile(
        "svc-sleep-forever",
        services_file("import time\ntime.sleep(10**6)\n"),
        f"{BAD}:3",
        MODULE,
        "must finish within 1 s",
        env=FAST_TIMEOUT,
    ),
    Hostile(
        "svc-loop-swallows-stop",
        services_file(
            "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass\n"
        ),
        BAD,
        MODULE,
        "ignores being stopped",
        env=FAST_TIMEOUT,
    ),
    Hostile(
        "svc-timeout-env-invalid",
        declared(""),
        "(environment)",
        "MLINFRA_SERVICES_TIMEOUT",
        "a number of seconds >= 0",
        env={"MLINFRA_SERVICES_TIMEOUT": "soon"},
    ),
    Hostile(
        "svc-timeout-env-negative",
        declared(""),
        "(environment)",
        "MLINFRA_SERVICES_TIMEOUT",
        "a number of seconds >= 0",
        env={"MLINFRA_SERVICES_TIMEOUT": "-1"},
    ),
    Hostile(
        "svc-raise-value-error",
        services_file("raise ValueError('no model today')\n"),
        f"{BAD}:2",
        MODULE,
        "raises ValueError: no model today",
    ),
    Hostile(
        "svc-raise-huge-message",
        services_file("raise RuntimeError('x' * 2_000_000)\n"),
        f"{BAD}:2",
        MODULE,
        "(2000000 characters)",
    ),
    Hostile("svc-zero-division", services_file("1 / 0\n"), f"{BAD}:2", MODULE, "raises ZeroDivisionError"),
    Hostile(
        "svc-recursion", services_file("def f():\n    return f()\n\nf()\n"), f"{BAD}:", MODULE, "raises RecursionError"
    ),
    Hostile(
        "svc-import-missing",
        services_file("import mlinfra_no_such_module\n"),
        f"{BAD}:2",
        MODULE,
        "raises ModuleNotFoundError",
    ),
    Hostile("svc-name-error", services_file("undefined_name\n"), f"{BAD}:2", MODULE, "raises NameError"),
    Hostile(
        "svc-helper-raises",
        both(
            write("services/_helper.py", "raise LookupError('helper')\n"),
            services_file("import sys, os\nsys.path.insert(0, os.path.dirname(__file__))\nimport _helper\n"),
        ),
        f"{BAD}:4",
        MODULE,
        "raises LookupError: helper",
    ),
    Hostile(
        "svc-raise-markup",
        services_file("raise ValueError('[/x] and [bold]prod')\n"),
        f"{BAD}:2",
        MODULE,
        "[/x] and [bold]prod",
    ),
    Hostile(
        "svc-invalid-utf8",
        write_bytes(BAD, b"from mlinfra import ModelService\nx = '\xff\xfe'\n"),
        BAD,
        "",
        "valid Python",
    ),
    Hostile("svc-null-byte", write_bytes(BAD, b"x = 1\x00\n"), BAD, "", "valid Python"),
    Hostile(
        "svc-syntax-error-deep", services_file("def f(:\n    pass\n"), f"{BAD}:2", "(python syntax)", "valid Python"
    ),
    Hostile("svc-no-arguments", services_file("ModelService()\n"), BAD, "ModelService(...)", "allowed fields:"),
    Hostile(
        "svc-unexpected-keyword",
        services_file('ModelService("zz", "s3://a/b.onnx", 3)\n'),
        BAD,
        "ModelService(...)",
        "allowed fields:",
    ),
    # --- values: infinities, NaN, empties -------------------------------------------------------
    Hostile("svc-cpu-inf", declared('cpu=float("inf")'), f"{BAD}:2", ".cpu", "positive whole number of millicores"),
    Hostile("svc-cpu-nan", declared('cpu=float("nan")'), f"{BAD}:2", ".cpu", "positive whole number of millicores"),
    Hostile("svc-cpu-minus-inf", declared('cpu=float("-inf")'), f"{BAD}:2", ".cpu", "positive whole number"),
    Hostile("svc-memory-float", declared("memory=2.5"), f"{BAD}:2", ".memory", "'512Mi' or '2Gi'"),
    Hostile(
        "svc-timeout-nan",
        declared('request_timeout_seconds=float("nan")'),
        f"{BAD}:2",
        ".request_timeout_seconds",
        "finite number",
    ),
    Hostile(
        "svc-timeout-inf",
        declared('request_timeout_seconds=float("inf")'),
        f"{BAD}:2",
        ".request_timeout_seconds",
        "finite number",
    ),
    Hostile(
        "svc-batch-wait-nan",
        declared('max_batch_wait_ms=float("nan")'),
        f"{BAD}:2",
        ".max_batch_wait_ms",
        "finite number",
    ),
    Hostile("svc-gpu-yes", declared('gpu="yes"'), f"{BAD}:2", ".gpu", "must be True, False or a GPU type"),
    Hostile("svc-gpu-one", declared("gpu=1"), f"{BAD}:2", ".gpu", "must be True, False or a GPU type"),
    Hostile("svc-replicas-true", declared("replicas=True"), f"{BAD}:2", ".replicas", "valid integer"),
    Hostile("svc-gpu-count-true", declared("gpu=True, gpu_count=True"), f"{BAD}:2", ".gpu_count", "valid integer"),
    Hostile("svc-public-one", declared("public=1"), f"{BAD}:2", ".public", "valid boolean"),
    Hostile("svc-bake-string", declared('bake_model="false"'), f"{BAD}:2", ".bake_model", "valid boolean"),
    Hostile("svc-uri-empty", declared("", uri=""), f"{BAD}:2", ".model_uri", "is empty"),
    Hostile("svc-uri-blank", declared("", uri="   "), f"{BAD}:2", ".model_uri", "is empty"),
    Hostile(
        "svc-uri-https-no-file",
        declared("", uri="https://models.example.com/"),
        f"{BAD}:2",
        ".model_uri",
        "names a directory",
    ),
    Hostile(
        "svc-uri-s3-directory",
        declared("", uri="s3://acme-models/fraud/"),
        f"{BAD}:2",
        ".model_uri",
        "names a directory",
    ),
    Hostile(
        "svc-uri-with-space",
        declared("", uri="s3://acme-models/my model.onnx"),
        f"{BAD}:2",
        ".model_uri",
        "contains whitespace",
    ),
    Hostile(
        "svc-bake-missing-file",
        declared("bake_model=True", uri="models/missing.onnx"),
        f"{BAD}:2",
        ".model_uri",
        "but it does not exist",
    ),
    Hostile(
        "svc-bake-directory",
        both(make_dir("models/dir.onnx"), declared("bake_model=True", uri="models/dir.onnx")),
        f"{BAD}:2",
        ".model_uri",
        "but it is a directory",
    ),
    Hostile(
        "svc-bake-file-uri-missing",
        declared("bake_model=True", uri="file:///nonexistent/model.onnx"),
        f"{BAD}:2",
        ".model_uri",
        "does not exist",
    ),
    # --- reserved environment (the runtime reads MLINFRA_* in any case) -------------------------
    Hostile(
        "svc-env-reserved-lowercase",
        declared('env={"mlinfra_trusted_pickle": "true"}'),
        f"{BAD}:2",
        ".env",
        "reserved MLINFRA_ prefix (in any letter case)",
    ),
    Hostile(
        "svc-env-reserved-mixedcase",
        declared('env={"Mlinfra_Api_Keys": ""}'),
        f"{BAD}:2",
        ".env",
        "reserved MLINFRA_ prefix",
    ),
    Hostile(
        "svc-env-reserved-upper",
        declared('env={"MLINFRA_MAX_QUEUE": "1"}'),
        f"{BAD}:2",
        ".env",
        "reserved MLINFRA_ prefix",
    ),
    Hostile(
        "stack-env-reserved-lowercase",
        config("mlinfra:services/fraud-detector/env", {"mlinfra_max_body_bytes": "999999999"}),
        STACK,
        "mlinfra:services.fraud-detector.env",
        "reserved MLINFRA_ prefix",
    ),
    Hostile("svc-env-bad-name", declared('env={"1BAD": "x"}'), f"{BAD}:2", ".env", "[A-Za-z_][A-Za-z0-9_]*"),
    # --- allowed_cidrs and other lists ----------------------------------------------------------
    Hostile("svc-cidrs-banana", declared('allowed_cidrs=["banana"]'), f"{BAD}:2", ".allowed_cidrs", "not a CIDR block"),
    Hostile(
        "svc-cidrs-host-bits",
        declared('allowed_cidrs=["10.0.0.1/8"]'),
        f"{BAD}:2",
        ".allowed_cidrs",
        "has host bits set",
    ),
    Hostile("svc-cidrs-empty-string", declared('allowed_cidrs=[""]'), f"{BAD}:2", ".allowed_cidrs", "not a CIDR block"),
    Hostile(
        "svc-cidrs-prefix-33",
        declared('allowed_cidrs=["10.0.0.0/33"]'),
        f"{BAD}:2",
        ".allowed_cidrs",
        "not a CIDR block",
    ),
    Hostile(
        "stack-cidrs-banana",
        config("mlinfra:services/fraud-detector/allowedCidrs", ["banana"]),
        STACK,
        "mlinfra:services.fraud-detector.allowedCidrs",
        "not a CIDR block",
    ),
    # --- markup never changes a printed value ---------------------------------------------------
    Hostile(
        "svc-name-markup-close",
        services_file('ModelService("[/x]", model_uri="s3://a-b/x/m.onnx")\n'),
        f"{BAD}:2",
        ".name",
        "DNS-1035",
        shown="'[/x]'",
    ),
    Hostile(
        "svc-name-markup-bold",
        services_file('ModelService("[bold]prod", model_uri="s3://a-b/x/m.onnx")\n'),
        f"{BAD}:2",
        ".name",
        "DNS-1035",
        shown="'[bold]prod'",
    ),
    Hostile(
        "svc-name-emoji-code",
        services_file('ModelService("ns:key:", model_uri="s3://a-b/x/m.onnx")\n'),
        f"{BAD}:2",
        ".name",
        "DNS-1035",
        shown="'ns:key:'",
    ),
    Hostile(
        "stack-tier-markup",
        config("mlinfra:tier", "[bold]prod"),
        STACK,
        "mlinfra:tier",
        "'dev', 'staging' or 'prod'",
        shown="'[bold]prod'",
    ),
    Hostile(
        "stack-tier-markup-close", config("mlinfra:tier", "[/x]"), STACK, "mlinfra:tier", "'staging'", shown="'[/x]'"
    ),
    Hostile(
        "stack-domain-secret-markup",
        config("mlinfra:domain", "[secret]"),
        STACK,
        "mlinfra:domain",
        "ml.example.com",
        shown="'[secret]'",
    ),
    # --- stack file structure: aliases, duplicates, depth, encoding, size -----------------------
    Hostile("stack-billion-laughs", append_config(_bomb(9)), STACK, "(YAML syntax, line", "aliases (*name)"),
    Hostile("stack-bomb-6-levels", append_config(_bomb(6)), STACK, "(YAML syntax, line", "aliases (*name)"),
    Hostile(
        "stack-single-alias",
        append_config("  mlinfra:zz: &x 1\n  mlinfra:zy: *x\n"),
        STACK,
        "(YAML syntax, line",
        "are not allowed",
    ),
    Hostile(
        "stack-merge-key-alias",
        append_config("  mlinfra:zz: &base {a: 1}\n  mlinfra:zy: {<<: *base}\n"),
        STACK,
        "(YAML syntax, line",
        "aliases",
    ),
    Hostile(
        "stack-duplicate-key-tier",
        append_config("  mlinfra:tier: prod\n"),
        STACK,
        "(YAML syntax, line",
        "duplicate key 'mlinfra:tier'",
    ),
    Hostile(
        "stack-duplicate-nested-key",
        append_config("  mlinfra:zz:\n    a: 1\n    a: 2\n"),
        STACK,
        "(YAML syntax, line",
        "duplicate key 'a'",
    ),
    Hostile(
        "stack-duplicate-region",
        append_config("  aws:region: us-west-2\n"),
        STACK,
        "(YAML syntax, line",
        "duplicate key 'aws:region'",
    ),
    Hostile(
        "stack-duplicate-config",
        write(STACK, "config:\n  aws:region: us-east-1\nconfig: {}\n"),
        STACK,
        "(YAML syntax, line 3",
        "duplicate key 'config'",
    ),
    Hostile(
        "stack-deep-list",
        write(STACK, "config:\n  mlinfra:zz: " + "[" * 5000 + "]" * 5000 + "\n"),
        STACK,
        "(YAML syntax, line",
        "nested deeper than 32 levels",
    ),
    Hostile(
        "stack-deep-mapping",
        write(STACK, "config:\n  mlinfra:zz: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n"),
        STACK,
        "(YAML syntax, line",
        "nested deeper than 32 levels",
    ),
    Hostile(
        "stack-complex-key",
        append_config("  ? [a, b]\n  : 1\n"),
        STACK,
        "(YAML syntax, line",
        "mapping keys must be plain strings",
    ),
    Hostile(
        "stack-invalid-utf8",
        write_bytes(STACK, b"config:\n  aws:region: us-east-1\n  mlinfra:tier: \xff\xfe\n"),
        STACK,
        "(encoding, line 3)",
        "UTF-8 text",
    ),
    Hostile(
        "stack-latin1",
        write_bytes(STACK, "config:\n  mlinfra:domain: caf\u00e9.example\n".encode("latin-1")),
        STACK,
        "(encoding, line 2)",
        "UTF-8 text",
    ),
    Hostile(
        "stack-too-large",
        append_config("  mlinfra:zz: '" + "x" * (1024 * 1024) + "'\n"),
        STACK,
        "(file)",
        "at most 1024 KiB",
    ),
    Hostile("stack-is-directory", both(remove(STACK), make_dir(STACK)), STACK, "--stack", "is not a file"),
    Hostile("stack-top-level-list", write(STACK, "- config\n"), STACK, "config", "a mapping of"),
    Hostile("stack-config-null", write(STACK, "config:\n"), STACK, "config", "a mapping of"),
    Hostile("stack-config-scalar", write(STACK, "config: 3\n"), STACK, "config", "a mapping of"),
    Hostile(
        "stack-tab-indent",
        write(STACK, "config:\n\taws:region: us-east-1\n"),
        STACK,
        "(YAML syntax, line",
        "valid YAML",
    ),
    # --- config keys: namespaces and spelling ---------------------------------------------------
    Hostile("stack-key-no-namespace", append_config("  tier: prod\n"), STACK, "tier", "need a namespace"),
    Hostile(
        "stack-key-no-namespace-domain",
        append_config("  domain: ml.example.com\n"),
        STACK,
        "domain",
        "need a namespace",
    ),
    Hostile(
        "stack-namespace-typo",
        append_config("  mlinfro:tier: prod\n"),
        STACK,
        "mlinfro:tier",
        "did you mean mlinfra:tier",
    ),
    Hostile(
        "stack-namespace-uppercase",
        append_config("  MLINFRA:tier: prod\n"),
        STACK,
        "MLINFRA:tier",
        "did you mean mlinfra:tier",
    ),
    Hostile(
        "stack-namespace-project",
        append_config("  mlinfra-example:domain: ml.example.com\n"),
        STACK,
        "mlinfra-example:domain",
        "did you mean mlinfra:domain",
    ),
    Hostile(
        "stack-namespace-plural",
        append_config("  mlinfras:vpc: {}\n"),
        STACK,
        "mlinfras:vpc",
        "did you mean mlinfra:vpc",
    ),
    Hostile(
        "stack-unknown-key-long-value", config("mlinfra:zzbig", "y" * 100_000), STACK, "mlinfra:zzbig", "allowed keys"
    ),
    Hostile(
        "stack-tier-long-value",
        config("mlinfra:tier", "p" * 100_000),
        STACK,
        "mlinfra:tier",
        "'dev', 'staging' or 'prod'",
    ),
    Hostile("stack-unknown-key-long-name", config("mlinfra:" + "k" * 5000, 1), STACK, "mlinfra:kkkk", "allowed keys"),
    # --- secrets: reported, never printed -------------------------------------------------------
    Hostile("stack-secrets-string", config("mlinfra:secrets", CANARY), STACK, "mlinfra:secrets", SECRET_TEXT),
    Hostile("stack-secrets-list", config("mlinfra:secrets", [CANARY]), STACK, "mlinfra:secrets", SECRET_TEXT),
    Hostile(
        "stack-secrets-plaintext",
        config("mlinfra:secrets", {"fraud-api-key": CANARY}),
        STACK,
        "mlinfra:secrets.fraud-api-key",
        "not a plaintext value",
    ),
    Hostile(
        "stack-secrets-plaintext-number",
        config("mlinfra:secrets", {"fraud-api-key": 12345}),
        STACK,
        "mlinfra:secrets.fraud-api-key",
        "not a plaintext value",
    ),
    Hostile(
        "stack-secrets-mixed",
        config("mlinfra:secrets", {"fraud-api-key": {"secure": f"v1:{CANARY}"}, "other": CANARY}),
        STACK,
        "mlinfra:secrets.other",
        "not a plaintext value",
    ),
    Hostile(
        "stack-secure-extra-key",
        config("mlinfra:secrets", {"fraud-api-key": {"secure": f"v1:{CANARY}", "note": "x"}}),
        STACK,
        "mlinfra:secrets.fraud-api-key",
        "exactly `{secure: <ciphertext>}`",
    ),
    Hostile(
        "stack-secure-not-string",
        config("mlinfra:secrets", {"fraud-api-key": {"secure": [CANARY]}}),
        STACK,
        "mlinfra:secrets.fraud-api-key",
        SECRET_TEXT,
    ),
    Hostile(
        "stack-secure-empty",
        config("mlinfra:secrets", {"fraud-api-key": {"secure": ""}}),
        STACK,
        "mlinfra:secrets.fraud-api-key",
        SECRET_TEXT,
    ),
    Hostile(
        "stack-secure-in-other-key-malformed",
        config("mlinfra:zz", {"a": {"secure": CANARY, "b": CANARY}}),
        STACK,
        "mlinfra:zz.a",
        SECRET_TEXT,
    ),
    Hostile(
        "stack-secure-domain",
        config("mlinfra:domain", {"secure": f"v1:{CANARY}"}),
        STACK,
        "mlinfra:domain",
        "ml.example.com",
    ),
    Hostile(
        "stack-secure-region", config("aws:region", {"secure": f"v1:{CANARY}"}), STACK, "mlinfra:region", "us-east-1"
    ),
    Hostile(
        "stack-secure-unknown-key",
        config("mlinfra:zz", {"secure": f"v1:{CANARY}"}),
        STACK,
        "mlinfra:zz",
        "allowed keys",
    ),
    # --- stack values: cpu, network, zones, instance types, node groups -------------------------
    Hostile(
        "stack-cpu-inf",
        config("mlinfra:services/fraud-detector/cpu", float("inf")),
        STACK,
        "mlinfra:services.fraud-detector.cpu",
        "positive whole number",
    ),
    Hostile(
        "stack-cpu-nan",
        config("mlinfra:services/fraud-detector/cpu", float("nan")),
        STACK,
        "mlinfra:services.fraud-detector.cpu",
        "positive whole number",
    ),
    Hostile(
        "stack-model-uri-empty",
        config("mlinfra:services/fraud-detector/modelUri", ""),
        STACK,
        "mlinfra:services.fraud-detector.modelUri",
        "is empty",
    ),
    Hostile(
        "stack-bake-missing-file",
        both(
            config("mlinfra:services/search-ranker/modelUri", "models/m.pt"),
            config("mlinfra:services/search-ranker/bakeModel", True),
        ),
        STACK,
        "mlinfra:services.search-ranker.modelUri",
        "does not exist",
    ),
    Hostile(
        "stack-services-rename",
        config("mlinfra:services/search-ranker/name", "fraud-detector"),
        STACK,
        "mlinfra:services.search-ranker.name",
        "cannot be overridden per stack",
    ),
    Hostile(
        "stack-vpc-cidr-ipv6",
        config("mlinfra:vpc/cidr", "2001:db8::/56"),
        STACK,
        "mlinfra:vpc.cidr",
        "IPv4 block from /16 to /19",
    ),
    Hostile(
        "stack-vpc-cidr-slash28",
        config("mlinfra:vpc/cidr", "10.0.0.0/28"),
        STACK,
        "mlinfra:vpc.cidr",
        "IPv4 block from /16 to /19",
    ),
    Hostile(
        "stack-vpc-cidr-slash8",
        config("mlinfra:vpc/cidr", "10.0.0.0/8"),
        STACK,
        "mlinfra:vpc.cidr",
        "IPv4 block from /16 to /19",
    ),
    Hostile(
        "stack-vpc-cidr-slash20",
        config("mlinfra:vpc/cidr", "10.0.0.0/20"),
        STACK,
        "mlinfra:vpc.cidr",
        "an ALB needs /27",
    ),
    Hostile(
        "stack-vpc-cidr-host-bits",
        config("mlinfra:vpc/cidr", "10.0.0.1/16"),
        STACK,
        "mlinfra:vpc.cidr",
        "has host bits set",
    ),
    Hostile("stack-vpc-cidr-empty", config("mlinfra:vpc/cidr", ""), STACK, "mlinfra:vpc.cidr", "not a CIDR block"),
    Hostile("stack-vpc-cidr-number", config("mlinfra:vpc/cidr", 10), STACK, "mlinfra:vpc.cidr", "valid string"),
    Hostile(
        "stack-zones-other-region",
        config("mlinfra:vpc/availabilityZones", ["us-west-2a", "us-west-2b"]),
        STACK,
        "mlinfra:vpc.availabilityZones",
        "are not zones of us-east-1",
    ),
    Hostile(
        "stack-zones-garbage",
        config("mlinfra:vpc/availabilityZones", ["banana", "us-east-1b"]),
        STACK,
        "mlinfra:vpc.availabilityZones",
        "allowed: us-east-1a",
    ),
    Hostile(
        "stack-zones-repeated",
        config("mlinfra:vpc/availabilityZones", ["us-east-1a", "us-east-1a"]),
        STACK,
        "mlinfra:vpc",
        "must not repeat a zone",
    ),
    Hostile(
        "stack-zones-one", config("mlinfra:vpc/availabilityZones", ["us-east-1a"]), STACK, "mlinfra:vpc", "2 or 3 zones"
    ),
    Hostile(
        "stack-subnets-banana",
        config(
            "mlinfra:vpc",
            {
                "existingVpcId": "vpc-0123456789abcdef0",
                "privateSubnetIds": ["banana", "subnet-0123456789abcdef0"],
                "publicSubnetIds": ["subnet-0123456789abcdef1", "subnet-0123456789abcdef2"],
            },
        ),
        STACK,
        "mlinfra:vpc.privateSubnetIds",
        "subnet-0123456789abcdef0",
    ),
    Hostile(
        "stack-subnets-empty-id",
        config(
            "mlinfra:vpc",
            {
                "existingVpcId": "vpc-0123456789abcdef0",
                "privateSubnetIds": ["subnet-0123456789abcdef0", ""],
                "publicSubnetIds": ["subnet-0123456789abcdef1", "subnet-0123456789abcdef2"],
            },
        ),
        STACK,
        "mlinfra:vpc.privateSubnetIds",
        "subnet ids look like",
    ),
    Hostile(
        "stack-subnets-repeated",
        config(
            "mlinfra:vpc",
            {
                "existingVpcId": "vpc-0123456789abcdef0",
                "privateSubnetIds": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef0"],
                "publicSubnetIds": ["subnet-0123456789abcdef1", "subnet-0123456789abcdef2"],
            },
        ),
        STACK,
        "mlinfra:vpc.privateSubnetIds",
        "must not repeat",
    ),
    Hostile(
        "stack-system-instance-banana",
        config("mlinfra:eks/systemNodes/instanceTypes", ["m6i.banana"]),
        STACK,
        "mlinfra:eks.systemNodes.instanceTypes",
        "pinned instance table",
    ),
    Hostile(
        "stack-system-instance-empty",
        config("mlinfra:eks/systemNodes/instanceTypes", []),
        STACK,
        "mlinfra:eks.systemNodes.instanceTypes",
        "at least one",
    ),
    Hostile(
        "stack-system-instance-gpu",
        config("mlinfra:eks/systemNodes/instanceTypes", ["g5.xlarge"]),
        STACK,
        "mlinfra:eks.systemNodes.instanceTypes",
        "allowed: c6i.2xlarge",
    ),
    Hostile(
        "stack-gpu-instance-banana",
        config("mlinfra:nodePools/gpu-a10g/instanceTypes", ["g5.banana"]),
        STACK,
        "mlinfra:nodePools.gpu-a10g",
        "pinned instance table",
    ),
    Hostile(
        "stack-gpu-instance-unknown-size",
        config("mlinfra:nodePools/gpu-a10g/instanceTypes", ["g5.96xlarge"]),
        STACK,
        "mlinfra:nodePools.gpu-a10g",
        "allowed: g5.12xlarge",
    ),
    Hostile(
        "stack-node-group-name-spaces",
        both(
            config("mlinfra:nodePools/GPU A10G!", {"gpuType": "a10g"}),
            config("mlinfra:nodePools/gpu-a10g", DELETE),
        ),
        STACK,
        "mlinfra:nodePools",
        "pool names must be lowercase",
    ),
    Hostile(
        "stack-node-group-name-long",
        config("mlinfra:nodePools/" + "g" * 40, {"gpuType": "l4"}),
        STACK,
        "mlinfra:nodePools",
        "at most 30",
    ),
    Hostile(
        "stack-node-group-name-empty",
        config("mlinfra:nodePools/", {"gpuType": "l4"}),
        STACK,
        "mlinfra:nodePools",
        "pool names",
    ),
    Hostile(
        "stack-eks-public-cidr-host-bits",
        both(config("mlinfra:eks/endpointPublicAccess", True), config("mlinfra:eks/deployerCidrs", ["203.0.113.7/24"])),
        STACK,
        "mlinfra:eks.deployerCidrs",
        "has host bits set",
    ),
    Hostile("stack-region-number", config("aws:region", 5), STACK, "mlinfra:region", "valid string"),
    Hostile(
        "ecs-collector-image-empty",
        both(config("mlinfra:platform", "ecs"), config("mlinfra:ecs", {"collectorImage": ""})),
        STACK,
        "mlinfra:ecs.collectorImage",
        "container image reference",
    ),
    Hostile(
        "ecs-collector-image-spaces",
        both(config("mlinfra:platform", "ecs"), config("mlinfra:ecs", {"collectorImage": "my image"})),
        STACK,
        "mlinfra:ecs.collectorImage",
        "container image reference",
    ),
    # --- capacity on EKS, as on ECS: the pod must fit a node of its pool ------------------------
    Hostile(
        "eks-gpu-count-8-on-g5-xlarge",
        replace(RANKER, "gpu=True", "gpu=True, gpu_count=8"),
        RANKER,
        ".gpu_count",
        "Allowed: at most 1 GPU, or add g5.48xlarge",
    ),
    Hostile(
        "eks-memory-512gi-cpu-service",
        replace(FRAUD, 'memory="2Gi"', 'memory="512Gi"'),
        FRAUD,
        ".memory",
        "one pod never fits a node of pool 'cpu'",
    ),
    Hostile(
        "eks-cpu-100000", replace(FRAUD, 'cpu="1"', "cpu=100000"), FRAUD, ".cpu", "one pod never fits a node of pool"
    ),
    Hostile(
        "eks-memory-2pib", replace(FRAUD, 'memory="2Gi"', "memory=2147483648"), FRAUD, ".memory", "one pod never fits"
    ),
    Hostile(
        "eks-gpu-memory-too-big",
        replace(RANKER, "gpu=True", 'gpu=True, memory="64Gi"'),
        RANKER,
        ".memory",
        "pods at most g5.xlarge: 3.72 vCPU, 13.3 GiB, 1 GPU, g5.2xlarge:",
    ),
    Hostile(
        "eks-override-gpu-count",
        config("mlinfra:services/search-ranker/gpuCount", 4),
        STACK,
        "mlinfra:services.search-ranker.gpuCount",
        "at most 1 GPU",
    ),
    Hostile(
        "eks-override-memory",
        config("mlinfra:services/fraud-detector/memory", "100Gi"),
        STACK,
        "mlinfra:services.fraud-detector.memory",
        "one pod never fits a node of pool 'cpu'",
    ),
    Hostile(
        "eks-override-cpu",
        config("mlinfra:services/fraud-detector/cpu", 64),
        STACK,
        "mlinfra:services.fraud-detector.cpu",
        "one pod never fits a node of pool 'cpu'",
    ),
]


@pytest.mark.parametrize("case", HOSTILE, ids=[c.id for c in HOSTILE])
def test_hostile_input_exits_2_without_traceback_or_secret(case: Hostile, project: Path) -> None:
    plant_canary(project)
    case.edit(project)
    code, output = _run_plan(project, env=case.env)
    assert code == 2, output[:3000]
    assert "Traceback" not in output, output[:3000]
    assert CANARY not in output
    assert len(output) < MAX_OUTPUT, f"{len(output)} characters of output"
    lines = [line for line in output.splitlines() if case.file in line and case.field in line and case.allowed in line]
    assert lines, f"no line names {case.file!r}, {case.field!r} and {case.allowed!r}:\n{output[:3000]}"
    if case.shown is not None:
        assert case.shown in output


def test_hostile_table_adds_at_least_100_cases() -> None:
    assert len({c.id for c in HOSTILE}) == len(HOSTILE) >= 100
