"""Secrets from `mlinfra:secretArns` reach the EKS runtime (it reads them from Secrets Manager
at start with its own identity) and API-key auth fails closed; against a real moto server."""

from __future__ import annotations

from typing import Any

import pytest
import requests

AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def keys_arn(moto: str) -> str:
    import boto3

    client = boto3.client(
        "secretsmanager",
        endpoint_url=moto,
        **{"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"},
    )
    return str(client.create_secret(Name="prod/fraud-api-keys", SecretString="k-one,k-two")["ARN"])


def test_api_keys_from_a_secret_arn_guard_the_model(
    moto: str, keys_arn: str, start_server: Any, sklearn_model: Any
) -> None:
    _, _, x = sklearn_model
    srv = start_server(
        str(sklearn_model[0]),
        AWS_ENDPOINT_URL=moto,
        MLINFRA_SECRET_ARN_API_KEYS=keys_arn,
        MLINFRA_REQUIRE_API_KEY="true",
        **AWS_ENV,
    )
    body = {"instances": x.tolist()}
    assert requests.post(srv.url + "/predict", json=body, timeout=10).status_code == 401
    ok = requests.post(srv.url + "/predict", json=body, headers={"X-API-Key": "k-two"}, timeout=10)
    assert ok.status_code == 200


def test_an_unreadable_secret_stops_the_start(moto: str, keys_arn: str, start_server: Any, sklearn_model: Any) -> None:
    missing = keys_arn.replace("fraud-api-keys", "gone")
    srv = start_server(
        str(sklearn_model[0]),
        ready=False,
        AWS_ENDPOINT_URL=moto,
        MLINFRA_SECRET_ARN_API_KEYS=missing,
        MLINFRA_REQUIRE_API_KEY="true",
        **AWS_ENV,
    )
    assert srv.wait_exit(120) == 2
    assert missing in srv.logs()
    assert "refusing to start" in srv.logs()


def test_required_keys_without_any_secret_fail_closed(start_server: Any, sklearn_model: Any) -> None:
    srv = start_server(str(sklearn_model[0]), ready=False, MLINFRA_REQUIRE_API_KEY="true")
    assert srv.wait_exit(120) != 0
    assert "refusing to start without authentication" in srv.logs()
