"""`mlinfra:alerting` and `slo` input: each mistake one problem naming file, field, value and
what is allowed; a good config becomes the routing the receivers need."""

from __future__ import annotations

import pytest

from mlinfra.monitoring.routing import SECRETS_DIR, alertmanager_config
from mlinfra.spec.errors import SpecError
from mlinfra.spec.loader import load_deployment, read_stack_file
from tests.core.conftest import STACK_HEADER

SERVICE = 'from mlinfra import ModelService\nModelService("a", model_uri="s3://bkt/x/m.onnx")\n'
SECRETS = "  mlinfra:secrets:\n    hook: {secure: v1:abc}\n"


def _load(project, stack: str, service: str = SERVICE):  # type: ignore[no-untyped-def]
    root = project(services={"svc.py": service}, stacks={"s": stack})
    return load_deployment(root, "mlinfra", "s", read_stack_file(root, "s"))


def _problems(project, stack: str, service: str = SERVICE) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(SpecError) as info:
        _load(project, stack, service)
    return "\n".join(p.render() for p in info.value.problems)


def test_routing_from_config(project) -> None:  # type: ignore[no-untyped-def]
    stack = (
        STACK_HEADER
        + SECRETS
        + (
            "  mlinfra:alerting:\n    receivers:\n      chat: {slack: {webhookUrl: {secret: hook}, channel: '#ml'}}\n"
            "      pager: {pagerduty: {routingKey: {secret: hook}}}\n"
            "    routes:\n      - {receiver: pager, severity: [critical], services: [a]}\n"
            "    defaultReceiver: chat\n"
        )
    )
    settings = _load(project, stack).settings
    config = alertmanager_config(settings.alerting, platform="eks", region="us-east-1", topic_arns={})
    assert config["route"]["receiver"] == "chat"
    assert config["route"]["routes"][-1] == {"receiver": "pager", "matchers": ['severity=~"critical"', 'service=~"a"']}
    by_name = {r["name"]: r for r in config["receivers"]}
    assert by_name["pager"]["pagerduty_configs"][0]["routing_key_file"] == f"{SECRETS_DIR}/pager"
    assert by_name["chat"]["slack_configs"][0]["channel"] == "#ml"


@pytest.mark.parametrize(
    ("alerting", "expected"),
    [
        (
            "    receivers:\n      chat: {slack: {webhookUrl: {secret: hook}}}\n    defaultReceiver: nobody\n",
            "unknown receiver(s) ['nobody']; receivers: chat",
        ),
        (
            "    receivers:\n      chat: {slack: {webhookUrl: {secret: nope}}}\n    defaultReceiver: chat\n",
            "mlinfra:alerting.receivers.chat = 'nope': unknown secret; allowed: a name under mlinfra:secrets or "
            "mlinfra:secretArns: hook",
        ),
        (
            "    receivers:\n      chat: {slack: {webhookUrl: {secret: hook}}}\n    defaultReceiver: chat\n"
            "    routes: [{receiver: chat, services: [b]}]\n",
            "mlinfra:alerting.routes[0].services = 'b': unknown service; declared services: a",
        ),
        (
            "    receivers:\n      chat: {slack: {webhookUrl: {secret: hook}}, sns: {email: [a@b.co]}}\n"
            "    defaultReceiver: chat\n",
            "a receiver is exactly one of sns, slack, pagerduty; got ['sns', 'slack']",
        ),
        (
            "    receivers:\n      mail: {sns: {email: [not-an-address]}}\n    defaultReceiver: mail\n",
            "not e-mail addresses: ['not-an-address']",
        ),
        (
            "    receivers:\n      chat: {slack: {webhookUrl: {secret: hook}}}\n    defaultReceiver: chat\n"
            "    groupWait: soon\n",
            "mlinfra:alerting.groupWait = 'soon': must be a duration such as 30s, 5m or 4h",
        ),
    ],
)
def test_bad_alerting_is_one_clear_problem(project, alerting: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    text = _problems(project, STACK_HEADER + SECRETS + "  mlinfra:alerting:\n" + alerting)
    assert expected in text
    assert "stacks/Pulumi.s.yaml" in text


def test_slack_is_refused_on_ecs(project) -> None:  # type: ignore[no-untyped-def]
    stack = (
        STACK_HEADER
        + "  mlinfra:platform: ecs\n"
        + SECRETS
        + (
            "  mlinfra:alerting:\n    receivers:\n      chat: {slack: {webhookUrl: {secret: hook}}}\n"
            "    defaultReceiver: chat\n"
        )
    )
    assert (
        "mlinfra:alerting.receivers.chat.slack = 'slack': Amazon Managed Service for Prometheus (ECS) "
        "delivers alerts to SNS only; allowed on ECS: sns"
    ) in _problems(project, stack)


def test_latency_objective_must_be_a_histogram_bound(project) -> None:  # type: ignore[no-untyped-def]
    service = SERVICE.replace('m.onnx")', 'm.onnx", slo={"latency_seconds": 0.3})')
    text = _problems(project, STACK_HEADER, service)
    assert "ModelService('a').slo.latency_seconds = 0.3: must be a bound of the runtime's latency histogram" in text
    assert "0.25, 0.5, 1" in text
