"""SNS receivers on EKS (issue 13): kube-prometheus-stack's Alertmanager publishes to the
receiver's topic with its IRSA role.

Held against upstream: every `sns_configs` key is a field of the SNS notifier of the Alertmanager
the pinned chart runs (tests/fixtures/upstream/alertmanager, config/notifiers.go), the role may call
exactly the SNS API that notifier calls (notify/sns/sns.go), and the real `amtool check-config`
(Debian prometheus-alertmanager) accepts the rendered configuration.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlinfra.engine.render import render
from mlinfra.engine.runner import OfflineRun, run_offline
from mlinfra.monitoring.routing import ALERTMANAGER_SERVICE_ACCOUNT
from tests.core.conftest import STACK_HEADER
from tests.gate import tools
from tests.gate.conftest import ROOT

UPSTREAM = ROOT / "tests" / "fixtures" / "upstream"
OWN_TOPIC_ALERTING = """  mlinfra:secretArns:
    hook: arn:aws:secretsmanager:us-east-1:123456789012:secret:hook-AbCdEf
  mlinfra:alerting:
    receivers:
      mail: {sns: {email: [oncall@example.com], https: [{secret: hook}]}}
      chat: {slack: {webhookUrl: {secret: hook}}}
      theirs: {sns: {topicArn: "arn:aws:sns:us-east-1:123456789012:platform-pages"}}
    routes:
      - {receiver: theirs, severity: [critical], continue: true}
      - {receiver: chat, severity: [warning]}
    defaultReceiver: mail
"""
SERVICE = 'from mlinfra import ModelService\nModelService("a", model_uri="s3://b-1/m/x.onnx")\n'


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> OfflineRun:
    root = tmp_path_factory.mktemp("sns-eks")
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / name, root / name)
    (root / "services").mkdir()
    (root / "services" / "a.py").write_text(SERVICE)
    (root / "stacks").mkdir()
    (root / "stacks" / "Pulumi.s.yaml").write_text(STACK_HEADER + OWN_TOPIC_ALERTING)
    return run_offline(root, "s")


def _kps_values(run: OfflineRun) -> dict[str, Any]:
    [kps] = [
        r
        for r in run.resources
        if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["chart"] == "kube-prometheus-stack"
    ]
    return dict(kps.inputs["values"])


def _named(run: OfflineRun, rtype: str, name: str) -> Any:
    [res] = [r for r in run.resources if r.type == rtype and r.name == name]
    return res


def test_amtool_accepts_the_rendered_eks_config_with_sns_receivers(run: OfflineRun, tmp_path: Path) -> None:
    amtool = tools.amtool()
    render(run, tmp_path / "out")
    config = tmp_path / "out" / "monitoring" / "alertmanager.yaml"
    result = subprocess.run(
        [amtool, "check-config", str(config)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    receivers = {r["name"]: r for r in yaml.safe_load(config.read_text())["receivers"]}
    assert receivers["theirs"]["sns_configs"][0]["topic_arn"] == "arn:aws:sns:us-east-1:123456789012:platform-pages"
    assert receivers["mail"]["sns_configs"][0]["topic_arn"].startswith("arn:aws:sns:")
    assert "offline-secret-value" not in config.read_text()  # the HTTPS endpoint is SNS's, not the config's


def test_sns_config_keys_are_fields_of_the_notifier_the_chart_runs(run: OfflineRun) -> None:
    fixture = json.loads((UPSTREAM / "alertmanager" / "sns.json").read_text())
    chart_values = yaml.safe_load((UPSTREAM / "charts" / "kube-prometheus-stack" / "values.yaml").read_text())
    assert fixture["tag"] == chart_values["alertmanager"]["alertmanagerSpec"]["image"]["tag"], "refresh the fixture"
    config = _kps_values(run)["alertmanager"]["config"]
    sns = [c for r in config["receivers"] for c in r.get("sns_configs", [])]
    assert len(sns) == 2
    for entry in sns:
        assert set(entry) <= set(fixture["sns_config_fields"]), sorted(set(entry) - set(fixture["sns_config_fields"]))
        assert entry["sigv4"] == {"region": "us-east-1"}  # no keys: the SDK's chain, i.e. the IRSA role


def test_alertmanager_role_may_only_publish_to_the_receivers_topics(run: OfflineRun) -> None:
    fixture = json.loads((UPSTREAM / "alertmanager" / "sns.json").read_text())
    role_policy = _named(run, "aws:iam/rolePolicy:RolePolicy", "platform-addons-alertmanager-policy")
    policy = json.loads(role_policy.inputs["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["PublishAlerts"]["Action"] == [f"sns:{c}" for c in fixture["sns_api_calls"]]
    config = _kps_values(run)["alertmanager"]["config"]
    topics = sorted(c["topic_arn"] for r in config["receivers"] for c in r.get("sns_configs", []))
    assert sorted(statements["PublishAlerts"]["Resource"]) == topics
    # The stack's own topic is encrypted with the telemetry key; publishing needs the key too.
    own = _named(run, "aws:sns/topic:Topic", "platform-addons-alerts-mail")
    key = _named(run, "aws:kms/key:Key", "platform-addons-telemetry-key")
    assert own.inputs["kmsMasterKeyId"]
    assert statements["EncryptForOwnTopics"]["Action"] == ["kms:GenerateDataKey*", "kms:Decrypt"]
    assert len(statements["EncryptForOwnTopics"]["Resource"]) == 1
    assert key.urn in own.dependencies


def test_the_role_is_the_alertmanager_service_accounts_and_only_its(run: OfflineRun) -> None:
    values = _kps_values(run)["alertmanager"]
    account = values["serviceAccount"]
    assert account["name"] == ALERTMANAGER_SERVICE_ACCOUNT
    assert account["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    trust = json.loads(_named(run, "aws:iam/role:Role", "platform-addons-alertmanager-role").inputs["assumeRolePolicy"])
    [subject] = [v for k, v in trust["Statement"][0]["Condition"]["StringEquals"].items() if k.endswith(":sub")]
    assert subject == f"system:serviceaccount:monitoring:{ALERTMANAGER_SERVICE_ACCOUNT}"


def test_own_topics_get_the_subscriptions_and_a_given_topic_none(run: OfflineRun) -> None:
    subs = [r for r in run.resources if r.type == "aws:sns/topicSubscription:TopicSubscription"]
    assert sorted((s.name, s.inputs["protocol"]) for s in subs) == [
        ("platform-addons-alerts-mail-email-0", "email"),
        ("platform-addons-alerts-mail-https-0", "https"),
    ]
    assert not [r for r in run.resources if r.type == "aws:sns/topic:Topic" and r.name.endswith("-theirs")]


def test_stacks_without_sns_receivers_keep_the_chart_service_account(tmp_path: Path) -> None:
    staging = run_offline(ROOT, "staging")
    assert "serviceAccount" not in _kps_values(staging)["alertmanager"]
    assert not [r for r in staging.resources if r.name.endswith("-alertmanager-role")]
