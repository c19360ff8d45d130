"""mlinfra.serving.aws, the runtime's stdlib AWS client, held against the real thing: its SigV4
signatures against botocore's own signers, its calls against a real moto server (one of them
verifying signatures like AWS, with IAM users), its credential chain against local fake
container-credential and instance-metadata endpoints and moto's STS, and the runtime as the
image carries it importing no boto3/botocore while it reads an s3:// model and a secret."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import http.server
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials as BotoCredentials

from mlinfra.serving.aws import credentials as aws_credentials
from mlinfra.serving.aws.credentials import Credentials, CredentialsError, resolve
from mlinfra.serving.aws.s3 import object_url
from mlinfra.serving.aws.secrets import get_secret_string
from mlinfra.serving.aws.sigv4 import EMPTY_SHA256, canonical_request, sign
from mlinfra.serving.aws.transport import AwsError, host_header
from mlinfra.serving.aws_secrets import secret_overrides
from mlinfra.serving.errors import ModelLoadError
from mlinfra.serving.fetch import fetch_model
from tests.support.loopback import http_server, route_server, running
from tests.support.moto_server import running_moto

NOW = dt.datetime(2026, 12, 2, 13, 7, 9)  # naive UTC, as botocore's get_current_datetime gives
TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+session/token=="
KEYS = [
    "fraud/v12/model.skops",
    "my models/v 1/a b.onnx",  # spaces
    "modèles/ünïcødé/模型.onnx",  # non-ASCII: UTF-8, percent-encoded
    "plus+sign/a+b=c&d.onnx",  # '+' is not a space in a path
    "odd//double/./dot/../tilde~_-.onnx",  # never normalised: these are S3 key bytes
]
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
MODEL = b"PK\x03\x04" + b"m" * 3000


@pytest.fixture
def frozen_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: NOW)


# -- signatures: ours equal botocore's ----------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("token", [None, TOKEN])
@pytest.mark.parametrize("endpoint", [None, "http://127.0.0.1:5000"])
@pytest.mark.usefixtures("frozen_botocore")
def test_s3_get_signature_equals_botocores(key: str, token: str | None, endpoint: str | None) -> None:
    url = object_url("acme-models", key, "eu-west-1", endpoint)
    ours = sign(
        "GET",
        url,
        {"Host": host_header(url), "X-Amz-Content-SHA256": EMPTY_SHA256},
        EMPTY_SHA256,
        Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token),
        "eu-west-1",
        "s3",
        NOW,
    )
    request = AWSRequest(method="GET", url=url)
    auth = botocore.auth.S3SigV4Auth(
        BotoCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token), "s3", "eu-west-1"
    )
    auth.add_auth(request)
    assert request.headers["X-Amz-Content-SHA256"] == EMPTY_SHA256
    authorization = request.headers["Authorization"]
    del request.headers["Authorization"]  # the canonical request that was signed had none
    theirs_canonical = auth.canonical_request(request)
    ours_canonical, _ = canonical_request(
        "GET", url, {k: v for k, v in ours.items() if k != "Authorization"}, EMPTY_SHA256
    )
    assert ours_canonical == theirs_canonical
    assert ours["Authorization"] == authorization
    assert ours.get("X-Amz-Security-Token") == request.headers.get("X-Amz-Security-Token")
    assert ours["X-Amz-Date"] == request.headers["X-Amz-Date"] == "20261202T130709Z"


@pytest.mark.parametrize("bucket", ["acme-models", "acme.models"])
@pytest.mark.parametrize("key", KEYS)
@pytest.mark.usefixtures("frozen_botocore")
def test_boto3_get_object_goes_to_our_url_with_our_signature(bucket: str, key: str) -> None:
    """What boto3 itself sends for GetObject (caught before it leaves): the same URL, and the
    same signature over the same headers."""
    seen: dict[str, Any] = {}

    def catch(request: Any, **_: Any) -> AWSResponse:
        seen["url"], seen["headers"] = request.url, {k: v.decode() for k, v in request.headers.items()}
        return AWSResponse(request.url, 200, {"Content-Length": "0"}, None)

    client = boto3.client(
        "s3", region_name="eu-west-1", aws_access_key_id="AKID", aws_secret_access_key="SECRET", aws_session_token=TOKEN
    )
    client.meta.events.register("before-send.s3.GetObject", catch)
    with contextlib.suppress(Exception):  # the empty fake answer: only the request matters
        client.get_object(Bucket=bucket, Key=key)
    assert seen["url"] == object_url(bucket, key, "eu-west-1", None)
    # Sign what botocore signed (it adds amz-sdk-* after signing, and leaves User-Agent out).
    names = seen["headers"]["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    signed_by_boto = {k: v for k, v in seen["headers"].items() if k.lower() in names and k.lower() != "host"}
    ours = sign(
        "GET",
        seen["url"],
        {"Host": host_header(seen["url"]), **signed_by_boto},
        EMPTY_SHA256,
        Credentials("AKID", "SECRET", TOKEN),
        "eu-west-1",
        "s3",
        NOW,
    )
    assert ours["Authorization"] == seen["headers"]["Authorization"]


@pytest.mark.parametrize("token", [None, TOKEN])
@pytest.mark.usefixtures("frozen_botocore")
def test_secrets_manager_signature_equals_botocores(token: str | None) -> None:
    url = "https://secretsmanager.eu-west-1.amazonaws.com/"
    body = json.dumps({"SecretId": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/keys-AbCdEf"}).encode()
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "secretsmanager.GetSecretValue"}
    ours = sign(
        "POST",
        url,
        {"Host": host_header(url), **headers},
        hashlib.sha256(body).hexdigest(),
        Credentials("AKID", "SECRET", token),
        "eu-west-1",
        "secretsmanager",
        NOW,
    )
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    botocore.auth.SigV4Auth(BotoCredentials("AKID", "SECRET", token), "secretsmanager", "eu-west-1").add_auth(request)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours.get("X-Amz-Security-Token") == request.headers.get("X-Amz-Security-Token")


# -- against moto ---------------------------------------------------------------------------------


@pytest.fixture
def s3(moto: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in {**AWS_ENV, "AWS_ENDPOINT_URL": moto}.items():
        monkeypatch.setenv(key, value)
    for name in ("AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    client = boto3.client("s3", endpoint_url=moto)
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket="client-models")
    return client


@pytest.mark.parametrize("key", KEYS)
def test_fetch_reads_what_boto3_put(s3: Any, tmp_path: Path, key: str) -> None:
    s3.put_object(Bucket="client-models", Key=key, Body=MODEL)
    path, _ = fetch_model(f"s3://client-models/{key}", tmp_path, None)
    assert path.read_bytes() == MODEL


def test_missing_key_and_bucket_are_named(s3: Any, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as info:
        fetch_model("s3://client-models/nope/model.onnx", tmp_path, None)
    assert "there is no key 'nope/model.onnx' in bucket 'client-models' (S3 NoSuchKey, 404)" in str(info.value)
    assert str(info.value).startswith("could not download s3://client-models/nope/model.onnx")
    with pytest.raises(ModelLoadError, match=r"there is no bucket 'no-such-bucket' \(S3 NoSuchBucket, 404\)"):
        fetch_model("s3://no-such-bucket/m.onnx", tmp_path, None)
    assert os.listdir(tmp_path) == []


def test_the_s3_specific_endpoint_wins(s3: Any, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s3.put_object(Bucket="client-models", Key="e/model.onnx", Body=MODEL)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto)
    assert fetch_model("s3://client-models/e/model.onnx", tmp_path, None)[0].read_bytes() == MODEL


def test_a_secret_is_read_through_aws_secrets(moto: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sm = boto3.client("secretsmanager", endpoint_url=moto, region_name="eu-west-1", **_keys())
    arn = sm.create_secret(Name="prod/client-keys", SecretString="k-1,k-2")["ARN"]
    env = {**AWS_ENV, "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto, "MLINFRA_SECRET_ARN_API_KEYS": arn}
    assert secret_overrides(env) == {"api_keys": "k-1,k-2"}
    assert get_secret_string("prod/client-keys", {**env, "AWS_REGION": "eu-west-1"}) == "k-1,k-2"
    with pytest.raises(AwsError) as info:
        get_secret_string(arn.replace("client-keys", "gone"), env)
    assert info.value.code == "ResourceNotFoundException"


def _keys(creds: dict[str, str] | None = None) -> dict[str, str]:
    """boto3 client keyword arguments for `creds` (AWS_* variables; default moto's "testing")."""
    if creds is None:
        return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return {"aws_access_key_id": creds["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": creds["AWS_SECRET_ACCESS_KEY"]}


@pytest.fixture(scope="module")
def strict_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str], dict[str, str]]]:
    """A moto server that authenticates like AWS (signature and IAM policy) after the first five
    calls: (url, a reader's env, an env whose user may read nothing)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "5")
        with running_moto(tmp_path_factory.mktemp("strict-moto") / "moto.log") as url:
            iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1", **_keys())
            iam.create_user(UserName="reader")  # 1
            reader = iam.create_access_key(UserName="reader")["AccessKey"]  # 2
            policy = {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": ["s3:*", "secretsmanager:*"], "Resource": "*"}],
            }
            iam.put_user_policy(UserName="reader", PolicyName="all", PolicyDocument=json.dumps(policy))  # 3
            iam.create_user(UserName="nobody")  # 4
            nobody = iam.create_access_key(UserName="nobody")["AccessKey"]  # 5

            def env(key: dict[str, str]) -> dict[str, str]:
                return {
                    "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                    "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
                    "AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_ENDPOINT_URL": url,
                }

            yield url, env(reader), env(nobody)


def test_moto_verifying_signatures_accepts_ours(
    strict_moto: tuple[str, dict[str, str], dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, reader, _ = strict_moto
    client = boto3.client("s3", endpoint_url=url, region_name="us-east-1", **_keys(reader))
    client.create_bucket(Bucket="strict")
    client.put_object(Bucket="strict", Key=KEYS[2], Body=MODEL)
    for name, value in reader.items():
        monkeypatch.setenv(name, value)
    assert fetch_model(f"s3://strict/{KEYS[2]}", tmp_path, None)[0].read_bytes() == MODEL
    # A wrong secret key is a wrong signature: moto refuses it as AWS would.
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(ModelLoadError, match=r"access denied to key .* in bucket 'strict' \(S3 SignatureDoesNotMatch"):
        fetch_model(f"s3://strict/{KEYS[2]}", tmp_path / "again", None)
    sm = boto3.client("secretsmanager", endpoint_url=url, region_name="us-east-1", **_keys(reader))
    arn = sm.create_secret(Name="strict-keys", SecretString="s3cr3t")["ARN"]
    assert get_secret_string(arn, reader) == "s3cr3t"


def test_a_role_without_access_gets_a_403_naming_bucket_and_key(
    strict_moto: tuple[str, dict[str, str], dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, nobody = strict_moto
    for name, value in nobody.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ModelLoadError) as info:
        fetch_model("s3://strict/fraud/model.skops", tmp_path, None)
    message = str(info.value)
    assert "access denied to key 'fraud/model.skops' in bucket 'strict' (S3 AccessDenied, 403)" in message
    assert "s3:GetObject" in message


class _FakeS3(http.server.BaseHTTPRequestHandler):
    """Path-style S3 that misbehaves in the ways real S3 (or the way to it) can."""

    calls: dict[str, int]

    def do_GET(self) -> None:
        self.calls[self.path] = self.calls.get(self.path, 0) + 1
        auth = self.headers.get("Authorization", "")
        if self.path == "/b/moved.onnx" and "/eu-west-1/s3/" not in auth:
            self._send(
                400, b"<Error><Code>AuthorizationHeaderMalformed</Code></Error>", {"x-amz-bucket-region": "eu-west-1"}
            )
        elif self.path == "/b/hostile.onnx":
            # A region that would become part of a host name: not followed.
            self._send(
                400,
                b"<Error><Code>AuthorizationHeaderMalformed</Code></Error>",
                {"x-amz-bucket-region": "evil.example/x"},
            )
        elif self.path == "/b/flaky.onnx" and self.calls[self.path] < 3:
            self._send(503, b"<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>")
        elif self.path == "/b/short.onnx":
            self.send_response(200)
            self.send_header("Content-Length", "5000")
            self.end_headers()
            self.wfile.write(MODEL[:1000])  # then the connection closes
            self.close_connection = True
        elif self.path == "/b/down.onnx":
            self._send(500, b"<Error><Code>InternalError</Code></Error>")
        else:
            self._send(200, MODEL)

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    calls: dict[str, int] = {}
    with running(http_server(type("H", (_FakeS3,), {"calls": calls}))) as port:
        for key, value in AWS_ENV.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{port}")
        yield calls


def test_a_wrong_region_is_corrected_once_from_s3s_answer(fake_s3: dict[str, int], tmp_path: Path) -> None:
    assert fetch_model("s3://b/moved.onnx", tmp_path, None)[0].read_bytes() == MODEL
    assert fake_s3["/b/moved.onnx"] == 2


def test_5xx_is_retried_then_reported(fake_s3: dict[str, int], tmp_path: Path) -> None:
    assert fetch_model("s3://b/flaky.onnx", tmp_path, None)[0].read_bytes() == MODEL
    assert fake_s3["/b/flaky.onnx"] == 3
    with pytest.raises(ModelLoadError, match=r"could not download s3://b/down\.onnx: InternalError \(500\)"):
        fetch_model("s3://b/down.onnx", tmp_path, None)
    assert fake_s3["/b/down.onnx"] == 3


def test_a_bucket_region_that_is_not_a_region_name_is_not_followed(fake_s3: dict[str, int], tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"AuthorizationHeaderMalformed \(400\)"):
        fetch_model("s3://b/hostile.onnx", tmp_path, None)
    assert fake_s3["/b/hostile.onnx"] == 1


def test_a_body_shorter_than_its_length_is_refused(fake_s3: dict[str, int], tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="got 1000 bytes of 5000"):
        fetch_model("s3://b/short.onnx", tmp_path, None)
    assert os.listdir(tmp_path) == []


# -- the credential chain -------------------------------------------------------------------------


def _creds_json(key: str, token_field: str = "Token") -> bytes:
    return json.dumps(
        {"AccessKeyId": key, "SecretAccessKey": f"{key}-secret", token_field: f"{key}-token", "Expiration": "x"}
    ).encode()


NO_IMDS = {"AWS_EC2_METADATA_DISABLED": "true"}


def test_env_credentials_come_first() -> None:
    env = {**AWS_ENV, "AWS_SESSION_TOKEN": "t", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:9/x"}
    assert resolve(env) == Credentials("testing", "testing", "t", "env")
    with pytest.raises(CredentialsError, match="only one of"):
        resolve({"AWS_ACCESS_KEY_ID": "a", **NO_IMDS})
    with pytest.raises(CredentialsError, match="no AWS credentials found"):
        resolve(NO_IMDS)


def test_container_full_uri_with_a_token_file_that_wins(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-the-file")
    routes = {("GET", "/creds"): (200, _creds_json("ASIAFULL"), {"Authorization": "from-the-file"})}
    with route_server(routes) as (url, seen):
        env = {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": url + "/creds",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token_file),
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "from-the-env",
            **NO_IMDS,
        }
        assert resolve(env) == Credentials("ASIAFULL", "ASIAFULL-secret", "ASIAFULL-token", "container")
        assert seen[-1][2]["Accept"] == "application/json"
        env.pop("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
        with pytest.raises(CredentialsError, match="HTTP 401"):  # the env token is the wrong one here
            resolve(env)
    token_file.write_text("two\nlines")
    with pytest.raises(CredentialsError, match="CR or LF"):
        resolve({**env, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token_file)})


def test_container_relative_uri_wins_over_the_full_one(monkeypatch: pytest.MonkeyPatch) -> None:
    routes = {
        ("GET", "/v2/credentials/task"): (200, _creds_json("ASIATASK"), {}),
        ("GET", "/full"): (200, _creds_json("ASIAFULL"), {}),
    }
    with route_server(routes) as (url, seen):
        monkeypatch.setattr(aws_credentials, "_ECS_HOST", url)  # stands for http://169.254.170.2
        env = {
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/task",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": url + "/full",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "pod-identity",
            **NO_IMDS,
        }
        assert resolve(env).access_key == "ASIATASK"
        assert [s[1] for s in seen] == ["/v2/credentials/task"]
        assert "Authorization" not in seen[0][2]  # the ECS agent's relative URI gets no token


@pytest.mark.parametrize(
    "uri", ["http://example.com/creds", "http://10.0.0.5/creds", "http://169.254.169.254/creds", "ftp://127.0.0.1/x"]
)
def test_a_full_uri_over_plain_http_must_be_local(uri: str) -> None:
    with pytest.raises(CredentialsError, match="plain http is allowed only to loopback"):
        resolve({"AWS_CONTAINER_CREDENTIALS_FULL_URI": uri, **NO_IMDS})


def test_allowed_full_uris() -> None:
    allowed = aws_credentials._allowed_full_uri
    for uri in ("https://creds.example.com/x", "http://127.0.0.1:8/x", "http://127.1.2.3/x", "http://[::1]/x"):
        assert allowed(uri), uri
    for uri in ("http://169.254.170.2/x", "http://169.254.170.23/x", "http://[fd00:ec2::23]/x", "http://localhost/x"):
        assert allowed(uri), uri


def _imds_routes(token_status: int = 200) -> dict[tuple[str, str], tuple[int, bytes, dict[str, str]]]:
    need = {"X-aws-ec2-metadata-token": "imds-token"} if token_status == 200 else {}
    return {
        ("PUT", "/latest/api/token"): (token_status, b"imds-token" if token_status == 200 else b"", {}),
        ("GET", "/latest/meta-data/iam/security-credentials/"): (200, b"node-role\n", need),
        ("GET", "/latest/meta-data/iam/security-credentials/node-role"): (200, _creds_json("ASIANODE"), need),
    }


def test_imdsv2_with_its_session_token() -> None:
    with route_server(_imds_routes()) as (url, seen):
        assert resolve({"AWS_EC2_METADATA_SERVICE_ENDPOINT": url}).access_key == "ASIANODE"
        put = seen[0]
        assert put[:2] == ("PUT", "/latest/api/token")
        assert put[2]["X-aws-ec2-metadata-token-ttl-seconds"] == "21600"
        assert all(s[2].get("X-aws-ec2-metadata-token") == "imds-token" for s in seen[1:])
        with pytest.raises(CredentialsError, match="no AWS credentials found"):
            resolve({"AWS_EC2_METADATA_SERVICE_ENDPOINT": url, **NO_IMDS})


def test_imdsv1_when_no_token_is_offered() -> None:
    with route_server(_imds_routes(token_status=403)) as (url, seen):
        assert resolve({"AWS_EC2_METADATA_SERVICE_ENDPOINT": url}).access_key == "ASIANODE"
        assert all("X-aws-ec2-metadata-token" not in s[2] for s in seen[1:])


def test_web_identity_through_motos_sts(moto: str, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.e30.sig\n")
    env = {
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token),
        "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/fraud-irsa",
        "AWS_ROLE_SESSION_NAME": "fraud-pod",
        "AWS_ENDPOINT_URL_STS": moto,
        "AWS_REGION": "us-east-1",
        **NO_IMDS,
    }
    creds = resolve(env)
    assert creds.source == "web-identity"
    assert creds.access_key.startswith("ASIA")
    assert creds.secret_key
    assert creds.token
    # Those credentials then sign an S3 read (moto accepts any key; the token is sent).
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1", **_keys())
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket="irsa-models")
    s3.put_object(Bucket="irsa-models", Key="m.onnx", Body=MODEL)
    env["AWS_ENDPOINT_URL_S3"] = moto
    from mlinfra.serving.aws.s3 import get_object

    obj = get_object("irsa-models", "m.onnx", lambda: 5.0, env)
    try:
        assert obj.response.raw.read() == MODEL
    finally:
        obj.response.close()
    with pytest.raises(CredentialsError, match="cannot read AWS_WEB_IDENTITY_TOKEN_FILE"):
        resolve({**env, "AWS_WEB_IDENTITY_TOKEN_FILE": str(tmp_path / "missing")})


def test_sts_endpoint_is_regional() -> None:
    assert aws_credentials.sts_endpoint({"AWS_REGION": "eu-west-1"}) == "https://sts.eu-west-1.amazonaws.com"
    assert aws_credentials.sts_endpoint({"AWS_DEFAULT_REGION": "ap-south-1"}) == "https://sts.ap-south-1.amazonaws.com"
    assert aws_credentials.sts_endpoint({"AWS_ENDPOINT_URL": "http://x:1/", "AWS_REGION": "eu-west-1"}) == "http://x:1"
    assert aws_credentials.sts_endpoint({"AWS_ENDPOINT_URL": "http://x:1", "AWS_ENDPOINT_URL_STS": "http://y:2"}) == (
        "http://y:2"
    )


# -- the image's runtime needs no AWS SDK ----------------------------------------------------------


def test_the_runtime_reads_s3_and_secrets_without_botocore(moto: str, tmp_path: Path) -> None:
    from mlinfra.image import write_build_context

    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1", **_keys())
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket="lean")
    s3.put_object(Bucket="lean", Key="fraud/model.skops", Body=MODEL)
    sm = boto3.client("secretsmanager", endpoint_url=moto, region_name="us-east-1", **_keys())
    arn = sm.create_secret(Name="lean-keys", SecretString="k")["ARN"]
    # The runtime exactly as the image carries it: mlinfra/serving/** under an empty package.
    root = write_build_context(
        tmp_path / "ctx", service="fraud", model_uri="s3://lean/fraud/model.skops", framework="sklearn", gpu=False
    ).parent
    code = (
        "import sys; from pathlib import Path\n"
        "from mlinfra.serving.fetch import fetch_model\n"
        "from mlinfra.serving.aws_secrets import secret_overrides\n"
        f"path, _ = fetch_model('s3://lean/fraud/model.skops', Path({str(tmp_path / 'cache')!r}), None)\n"
        "assert path.stat().st_size > 0\n"
        "import os; assert secret_overrides(os.environ) == {'api_keys': 'k'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 's3transfer')))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON")) and k != "MLINFRA_API_KEYS"}
    env.update(AWS_ENV, AWS_ENDPOINT_URL=moto, MLINFRA_SECRET_ARN_API_KEYS=arn, PYTHONPATH=str(root))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# -- partitions and hostile values ----------------------------------------------------------------


def _botocore_partition_suffix(region_name: str) -> str:
    """The dnsSuffix botocore's own endpoints data gives the partition of `region_name`."""
    import re

    data = json.loads((Path(botocore.__file__).parent / "data" / "endpoints.json").read_text())
    for partition in data["partitions"]:
        if region_name in partition["regions"] or re.match(partition["regionRegex"], region_name):
            return str(partition["dnsSuffix"])
    raise AssertionError(f"no partition for {region_name}")


@pytest.mark.parametrize("region_name", ["us-east-1", "eu-west-1", "cn-north-1", "cn-northwest-1", "us-gov-west-1"])
def test_endpoints_use_the_partitions_domain_as_botocore_does(region_name: str) -> None:
    from mlinfra.serving.aws.credentials import sts_endpoint
    from mlinfra.serving.aws.transport import dns_suffix

    suffix = _botocore_partition_suffix(region_name)
    assert dns_suffix(region_name) == suffix
    assert object_url("models", "m/x.onnx", region_name, None) == f"https://models.s3.{region_name}.{suffix}/m/x.onnx"
    assert sts_endpoint({"AWS_REGION": region_name}) == f"https://sts.{region_name}.{suffix}"


def test_a_credential_with_a_line_break_is_refused_without_showing_it(tmp_path: Path) -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKIAX", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "IQoJSECRET\n"}
    with pytest.raises(CredentialsError, match="AWS_SESSION_TOKEN contains a line break") as refused:
        resolve(env)
    assert "IQoJSECRET" not in str(refused.value)


def test_a_header_with_a_line_break_names_the_header_not_its_value() -> None:
    from mlinfra.serving.aws.transport import open_url

    with pytest.raises(AwsError, match="X-Amz-Security-Token contains a line break") as refused:
        open_url("GET", "http://127.0.0.1:9/b/k", {"Host": "127.0.0.1:9", "X-Amz-Security-Token": "SECRET\r\n"})
    assert "SECRET" not in str(refused.value)
    assert not refused.value.retryable
