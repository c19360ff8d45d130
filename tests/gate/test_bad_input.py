"""Table-driven bad input: each case makes `mlinfra plan` exit 2 with one line naming the file,
the field and what is allowed, and no traceback; each near-miss still plans (exit 0).

Every case edits a fresh copy of the example project (services/fraud.py, services/ranker.py,
stacks/Pulumi.staging.yaml) and runs the real CLI in a subprocess.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.gate.conftest import mlinfra

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
    return replace(FRAUD, '    expected_load_seconds=20,\n', f'    expected_load_seconds=20,\n    {new_line},\n')


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
    Bad("name-too-long", replace(RANKER, '"search-ranker"', '"search-ranker-abcdefgh"'), RANKER, ".name",
        "at most 20 characters"),
    Bad("name-leading-digit", replace(RANKER, '"search-ranker"', '"1ranker"'), RANKER, ".name",
        "starting with a letter"),
    Bad("name-trailing-dash", replace(RANKER, '"search-ranker"', '"ranker-"'), RANKER, ".name", "not ending with '-'"),
    Bad("duplicate-name", write("services/copy.py", 'from mlinfra import ModelService\n\n'
                                'ModelService("search-ranker", model_uri="s3://acme-models/r/m.onnx")\n'),
        RANKER, ": name = 'search-ranker'", "must be unique; also declared at services/copy.py"),
    Bad("override-unknown-service", config("mlinfra:services/ghost", {"replicas": 2}), STACK,
        "mlinfra:services.ghost", "declared services: fraud-detector, search-ranker"),
    # --- sizes -----------------------------------------------------------------------------
    Bad("cpu-negative", replace(FRAUD, 'cpu="1"', 'cpu="-1"'), FRAUD, ".cpu", "number of cores"),
    Bad("cpu-garbage", replace(FRAUD, 'cpu="1"', 'cpu="1.5x"'), FRAUD, ".cpu", "millicores ('500m')"),
    Bad("memory-wrong-unit", replace(FRAUD, 'memory="2Gi"', 'memory="2GB"'), FRAUD, ".memory", "'512Mi' or '2Gi'"),
    Bad("memory-no-unit", replace(FRAUD, 'memory="2Gi"', 'memory="2048"'), FRAUD, ".memory", "needs a unit"),
    Bad("replicas-zero-override", config("mlinfra:services/search-ranker/replicas", 0), STACK,
        "mlinfra:services.search-ranker.replicas", "greater than or equal to 1"),
    Bad("batch-wrong-type", replace(RANKER, "max_batch_size=64", 'max_batch_size="lots"'), RANKER,
        ".max_batch_size", "valid integer"),
    Bad("port-privileged", fraud_arg("port=80"), FRAUD, ".port", "greater than or equal to 1024"),
    Bad("load-seconds-zero", replace(FRAUD, "expected_load_seconds=20", "expected_load_seconds=0"), FRAUD,
        ".expected_load_seconds", "greater than or equal to 1"),
    Bad("timeout-zero", fraud_arg("request_timeout_seconds=0"), FRAUD, ".request_timeout_seconds", "greater than 0"),
    Bad("batch-too-big", replace(RANKER, "max_batch_size=64", "max_batch_size=5000"), RANKER, ".max_batch_size",
        "less than or equal to 1024"),
    # --- GPU and capacity ------------------------------------------------------------------
    Bad("gpu-unknown-type", replace(RANKER, "gpu=True", 'gpu="h100"'), RANKER, ".gpu", "'a10g', 'l4', 't4' or 'l40s'"),
    Bad("gpu-no-capacity-for-type", replace(RANKER, "gpu=True", 'gpu="l4"'), RANKER, ".gpu",
        "GPU types in stacks/Pulumi.staging.yaml (mlinfra:gpuNodeGroups): a10g"),
    Bad("gpu-stack-without-gpu-nodes", config("mlinfra:gpuNodeGroups", DELETE), RANKER, ".gpu", "none configured"),
    Bad("gpu-count-too-high", replace(RANKER, "gpu=True", "gpu=True, gpu_count=9"), RANKER, ".gpu_count",
        "less than or equal to 8"),
    Bad("gpu-nodes-wrong-family", config("mlinfra:gpuNodeGroups/gpu-a10g/instanceTypes", ["m6i.xlarge"]), STACK,
        "mlinfra:gpuNodeGroups.gpu-a10g", "use g5.* types"),
    Bad("gpu-nodes-min-above-desired", config("mlinfra:gpuNodeGroups/gpu-a10g/minSize", 3), STACK,
        "mlinfra:gpuNodeGroups.gpu-a10g", "min_size <= desired_size <= max_size"),
    # --- model URIs ------------------------------------------------------------------------
    Bad("uri-unknown-scheme", replace(RANKER, "s3://acme-models/ranker/v3/model.pt", "gs://acme/ranker/model.pt"),
        RANKER, ".model_uri", "allowed: s3://bucket/key"),
    Bad("uri-s3-no-key", replace(RANKER, "s3://acme-models/ranker/v3/model.pt", "s3://acme-models"), RANKER,
        ".model_uri", "s3://bucket/path/model"),
    Bad("uri-s3-bad-bucket", replace(RANKER, "s3://acme-models/", "s3://Acme_Models/"), RANKER, ".model_uri",
        "valid bucket"),
    Bad("uri-unknown-format", replace(RANKER, "model.pt", "model.bin"), RANKER, ".framework",
        "allowed: sklearn, xgboost, lightgbm, onnx, torchscript"),
    Bad("uri-pickle-untrusted", replace(FRAUD, "model.skops", "model.joblib"), FRAUD, ".trusted_pickle",
        "set trusted_pickle=True"),
    Bad("uri-local-not-baked", replace(RANKER, "s3://acme-models/ranker/v3/model.pt", "models/model.pt"), RANKER,
        ".bake_model", "set bake_model=True"),
    Bad("sha256-malformed", replace(FRAUD, 'model_sha256="3f7a', 'model_sha256="XYZ'), FRAUD, ".model_sha256",
        "64 lowercase hex"),
    # --- autoscaling -----------------------------------------------------------------------
    # The staging override replaces the declared autoscaling, so drop it to reach the declaration.
    Bad("autoscaling-min-above-max", both(replace(FRAUD, '"min_replicas": 3', '"min_replicas": 30'),
                                          config("mlinfra:services/fraud-detector", DELETE)), FRAUD,
        ".autoscaling", "must be <= max_replicas"),
    Bad("autoscaling-min-zero-override", config("mlinfra:services/fraud-detector/autoscaling/minReplicas", 0), STACK,
        "mlinfra:services.fraud-detector.autoscaling.minReplicas", "greater than or equal to 1"),
    Bad("autoscaling-target-too-high", both(replace(FRAUD, '"target_cpu_percent": 60', '"target_cpu_percent": 99'),
                                            config("mlinfra:services/fraud-detector", DELETE)), FRAUD,
        ".autoscaling.target_cpu_percent", "less than or equal to 95"),
    Bad("autoscaling-unknown-key", config("mlinfra:services/fraud-detector/autoscaling/maxReplica", 4), STACK,
        "mlinfra:services.fraud-detector.autoscaling.maxReplica", "allowed fields: maxReplicas, minReplicas"),
    # --- unknown fields and wrong types ----------------------------------------------------
    Bad("service-unknown-field", fraud_arg("replica=3"), FRAUD, ".replica", "allowed fields: allowed_cidrs"),
    Bad("override-unknown-field", config("mlinfra:services/search-ranker/replica", 3), STACK,
        "mlinfra:services.search-ranker.replica", "allowed fields: allowedCidrs"),
    Bad("stack-unknown-key", config("mlinfra:tierr", "prod"), STACK, "mlinfra:tierr", "allowed keys: mlinfra:"),
    Bad("tier-invalid", config("mlinfra:tier", "production"), STACK, "mlinfra:tier", "'dev', 'staging' or 'prod'"),
    Bad("platform-invalid", config("mlinfra:platform", "gke"), STACK, "mlinfra:platform", "'eks' or 'ecs'"),
    Bad("public-flag-wrong-type", fraud_arg('public="yes please"'), FRAUD, ".public", "valid boolean"),
    Bad("env-reserved-prefix", replace(FRAUD, '"LOG_LEVEL"', '"MLINFRA_PORT"'), FRAUD, ".env", "reserved MLINFRA_"),
    # --- stack settings --------------------------------------------------------------------
    Bad("certificate-not-acm", config("mlinfra:certificateArn", "arn:aws:iam::123:cert/x"), STACK,
        "mlinfra:certificateArn", "arn:aws:acm:<region>:<account>:certificate/<uuid>"),
    Bad("domain-uppercase", config("mlinfra:domain", "ML.Example"), STACK, "mlinfra:domain", "ml.example.com"),
    Bad("domain-missing", config("mlinfra:domain", DELETE), STACK, "mlinfra:domain", "allowed: a lowercase DNS domain"),
    Bad("autoscaling-max-missing", both(replace(FRAUD, '"max_replicas": 12, ', ''),
                                        config("mlinfra:services/fraud-detector", DELETE)), FRAUD,
        ".autoscaling.max_replicas", "allowed: an integer from 1 to 1000"),
    Bad("region-missing", config("aws:region", DELETE), STACK, "aws:region", "us-east-1"),
    Bad("region-malformed", config("aws:region", "useast1"), STACK, "mlinfra:region", "us-east-1"),
    Bad("vpc-cidr-invalid", config("mlinfra:vpc/cidr", "10.0.0.0/33"), STACK, "mlinfra:vpc.cidr", "10.0.0.0/16"),
    Bad("vpc-nat-invalid", config("mlinfra:vpc/natGateways", "two"), STACK, "mlinfra:vpc.natGateways",
        "'per_az' or 'single'"),
    Bad("eks-version-unsupported", config("mlinfra:eks/version", "1.29"), STACK, "mlinfra:eks.version",
        "allowed: '1.32', '1.33', '1.34', '1.35', '1.36'"),
    Bad("eks-version-past-standard-support", config("mlinfra:eks/version", "1.33"), STACK, "mlinfra:eks",
        "set extendedSupport: true"),
    Bad("eks-without-deployer-cidrs", config("mlinfra:eks/deployerCidrs", DELETE), STACK, "mlinfra:eks",
        "deployerCidrs is required"),
    Bad("eks-public-to-world", config("mlinfra:eks/deployerCidrs", ["0.0.0.0/0"]), STACK,
        "mlinfra:eks.deployerCidrs", "name your CIDRs"),
    Bad("eks-public-from-private-range", config("mlinfra:eks/deployerCidrs", ["10.1.0.0/16"]), STACK,
        "mlinfra:eks", "allowed: public egress CIDRs, or endpointPublicAccess: false"),
    Bad("eks-without-admins", config("mlinfra:eks/admins", DELETE), STACK, "mlinfra:eks",
        "arn:aws:iam::123456789012:role/deployer"),
    Bad("eks-admin-session-arn", config("mlinfra:eks/admins", ["arn:aws:sts::123456789012:assumed-role/ci/x"]),
        STACK, "mlinfra:eks.admins", "not an sts assumed-role session"),
    Bad("secret-arn-malformed", config("mlinfra:secretArns", {"fraud-api-key": "not-an-arn"}), STACK,
        "mlinfra:secretArns", "not Secrets Manager ARNs"),
    Bad("suppression-without-reason", config("mlinfra:policy", {"suppressions": [{"id": "K8S001", "reason": "x"}]}),
        STACK, "mlinfra:policy.suppressions.0.reason", "at least 10 characters"),
    # --- secrets and exposure --------------------------------------------------------------
    Bad("secret-not-defined", config("mlinfra:secrets", DELETE), FRAUD, ".secrets",
        "define it under mlinfra:secrets or mlinfra:secretArns"),
    Bad("secret-name-invalid", replace(FRAUD, '["fraud-api-key"]', '["Fraud_Key"]'), FRAUD, ".secrets",
        "lowercase DNS labels"),
    Bad("public-without-auth", fraud_arg("public=True"), FRAUD, ".auth", "allowed: api_key"),
    Bad("api-key-without-secret", fraud_arg('auth="api_key"'), FRAUD, ".secrets", "add it to secrets"),
    Bad("cidrs-on-internal", fraud_arg('allowed_cidrs=["10.0.0.0/8"]'), FRAUD, ".allowed_cidrs", "set public=True"),
    # --- malformed files -------------------------------------------------------------------
    Bad("stack-yaml-syntax", write(STACK, "config:\n  aws:region: [us-east-1\n"), STACK, "(YAML syntax, line",
        "valid YAML"),
    Bad("stack-config-not-mapping", write(STACK, "config: [1, 2]\n"), STACK, "config", "a mapping of"),
    Bad("service-python-syntax", write("services/broken.py", "ModelService(\n"), "services/broken.py",
        "(python syntax)", "valid Python"),
    Bad("service-missing-uri", write("services/nouri.py", 'from mlinfra import ModelService\n'
                                     'ModelService("nouri")\n'), "services/nouri.py", "ModelService(...)",
        "allowed fields:"),
]


def _run_plan(root: Path) -> tuple[int, str]:
    result = mlinfra("plan", "--stack", "staging", "--format", "json", "-C", str(root))
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_naming_file_field_and_allowed(case: Bad, project: Path) -> None:
    case.edit(project)
    code, output = _run_plan(project)
    assert code == 2, output
    assert "Traceback" not in output
    # One problem line carries all three: where, what, and what would be accepted.
    lines = [line for line in output.splitlines()
             if case.file in line and case.field in line and case.allowed in line]
    assert lines, f"no line names {case.file!r}, {case.field!r} and {case.allowed!r}:\n{output}"


def test_table_has_at_least_40_distinct_cases() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 40


NEAR_MISSES: dict[str, list[Edit]] = {
    "name-20-chars-and-quantities": [write("services/edge.py", (
        'from mlinfra import ModelService\n\nModelService("m2345678901234567890", '
        'model_uri="s3://acme-models/edge/v1/model.onnx", cpu="500m", memory="512Mi", replicas=1)\n'))],
    "autoscaling-min-equals-max": [replace(FRAUD, '"min_replicas": 3, "max_replicas": 12, "target_cpu_percent": 60',
                                           '"min_replicas": 2, "max_replicas": 2, "target_cpu_percent": 95'),
                                   config("mlinfra:services/fraud-detector", DELETE), fraud_arg("port=1024")],
    "public-with-api-key": [fraud_arg('public=True, auth="api_key", allowed_cidrs=["203.0.113.0/24"]'),
                            replace(FRAUD, '["fraud-api-key"]', '["api-keys", "fraud-api-key"]'),
                            config("mlinfra:secretArns", {
                                "api-keys": "arn:aws:secretsmanager:us-east-1:123456789012:secret:keys-AbCdEf"})],
    "pickle-trusted-https": [replace(FRAUD, "s3://acme-models/fraud/v12/model.skops",
                                     "https://models.example.com/fraud/model.joblib"),
                             fraud_arg("trusted_pickle=True")],
    "explicit-gpu-type-and-dev-tier": [replace(RANKER, "gpu=True", 'gpu="a10g", gpu_count=1'),
                                       config("mlinfra:tier", "dev")],
    "private-api-server-with-in-vpc-deployer": [config("mlinfra:eks/endpointPublicAccess", False),
                                                config("mlinfra:eks/deployerCidrs", ["10.20.0.0/16"])],
    "past-standard-support-with-extended-support": [config("mlinfra:eks/version", "1.33"),
                                                    config("mlinfra:eks/extendedSupport", True)],
}


@pytest.mark.parametrize("edits", NEAR_MISSES.values(), ids=list(NEAR_MISSES))
def test_valid_near_miss_still_plans(edits: list[Edit], project: Path) -> None:
    for edit in edits:
        edit(project)
    code, output = _run_plan(project)
    assert code == 0, output
