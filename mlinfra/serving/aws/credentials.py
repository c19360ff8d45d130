"""The runtime's AWS credentials and region, found the way the AWS SDKs find them in a
container, in their order:

1. the environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
2. web identity (IRSA on EKS): AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, exchanged with STS
   AssumeRoleWithWebIdentity (an unsigned call: the token is the proof);
3. container credentials (ECS task role, EKS Pod Identity): AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
   or AWS_CONTAINER_CREDENTIALS_FULL_URI;
4. EC2 instance metadata (IMDSv2, IMDSv1 if no session token can be had), unless
   AWS_EC2_METADATA_DISABLED=true.

Not read, on purpose: the shared files (~/.aws/config, ~/.aws/credentials), profiles, SSO and
credential_process. A serving container gets its identity from the platform, not from a home
directory; to run against AWS from a laptop, export the variables of step 1 (e.g. with
`aws configure export-credentials --format env`).

STS (step 2) is reached like S3, through HTTPS_PROXY unless NO_PROXY names it and checked
against AWS_CA_BUNDLE if set; the container and instance-metadata endpoints (steps 3 and 4)
never go through a proxy (see transport.open_url).

Credentials are resolved per call and never refreshed: the runtime's AWS calls all happen at
start-up, well inside any credential's lifetime.
"""

from __future__ import annotations

import ipaddress
import json
import os
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from mlinfra.serving.aws.transport import AwsError, dns_suffix, host_header, open_url


class CredentialsError(AwsError):
    """No usable credentials, or a provider that is configured but fails (the SDKs stop there
    too, rather than silently falling through to a different identity)."""


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    source: str = "env"


def region(environ: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None


def service_endpoint(environ: Mapping[str, str], service_env: str) -> str | None:
    """An endpoint override, the service's own variable first (AWS_ENDPOINT_URL_S3, ...)."""
    url = environ.get(f"AWS_ENDPOINT_URL_{service_env}") or environ.get("AWS_ENDPOINT_URL")
    return url.rstrip("/") if url else None


def resolve(environ: Mapping[str, str] | None = None) -> Credentials:
    env = os.environ if environ is None else environ
    providers: list[Callable[[Mapping[str, str]], Credentials | None]] = [
        _from_env,
        _from_web_identity,
        _from_container,
        _from_imds,
    ]
    for provider in providers:
        creds = provider(env)
        if creds is not None:
            return creds
    raise CredentialsError(
        "no AWS credentials found (tried AWS_ACCESS_KEY_ID, web identity, container credentials, "
        "instance metadata); give the service an IAM role (IRSA, ECS task role) or set AWS_* variables"
    )


def _from_env(env: Mapping[str, str]) -> Credentials | None:
    key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if not key and not secret:
        return None
    if not key or not secret:
        raise CredentialsError("only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set")
    token = env.get("AWS_SESSION_TOKEN") or None
    for name, value in (("AWS_ACCESS_KEY_ID", key), ("AWS_SECRET_ACCESS_KEY", secret), ("AWS_SESSION_TOKEN", token)):
        if value and ("\r" in value or "\n" in value):
            # A Secret mounted as variables often ends in a newline; say so without the value.
            raise CredentialsError(f"{name} contains a line break (a trailing newline?); remove it")
    return Credentials(key, secret, token, "env")


def _json_credentials(payload: bytes, where: str, source: str) -> Credentials:
    # The container agents and IMDS answer in the same shape.
    try:
        data = json.loads(payload)
        return Credentials(data["AccessKeyId"], data["SecretAccessKey"], data.get("Token") or None, source)
    except (ValueError, KeyError, TypeError) as exc:
        raise CredentialsError(f"{where} returned no credentials ({type(exc).__name__})") from None


# -- web identity (IRSA) ---------------------------------------------------------------------

_STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"


def sts_endpoint(env: Mapping[str, str]) -> str:
    override = service_endpoint(env, "STS")
    if override:
        return override
    reg = region(env)
    # Regional when a region is known (IRSA sets AWS_REGION): no dependency on us-east-1.
    return f"https://sts.{reg}.{dns_suffix(reg)}" if reg else "https://sts.amazonaws.com"


def _from_web_identity(env: Mapping[str, str]) -> Credentials | None:
    token_file, role_arn = env.get("AWS_WEB_IDENTITY_TOKEN_FILE"), env.get("AWS_ROLE_ARN")
    if not token_file or not role_arn:
        return None
    try:
        # Read at each call: the kubelet rotates the projected token file.
        with open(token_file, encoding="utf-8") as fh:
            token = fh.read().strip()
    except OSError as exc:
        raise CredentialsError(f"cannot read AWS_WEB_IDENTITY_TOKEN_FILE {token_file}: {exc}") from None
    form = {
        "Action": "AssumeRoleWithWebIdentity",
        "Version": "2011-06-15",
        "RoleArn": role_arn,
        "RoleSessionName": env.get("AWS_ROLE_SESSION_NAME") or f"mlinfra-serving-{int(time.time())}",
        "WebIdentityToken": token,
    }
    body = urllib.parse.urlencode(form).encode()
    url = sts_endpoint(env) + "/"
    headers = {
        "Host": host_header(url),
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
    }
    payload, status = b"", 0
    for attempt in range(3):
        if attempt:
            time.sleep(0.5 * attempt)
        try:
            resp = open_url("POST", url, headers, body, timeout=5.0)
            status, payload = resp.status, resp.read_all()
        except AwsError as exc:
            if attempt == 2 or not exc.retryable:
                raise CredentialsError(f"STS AssumeRoleWithWebIdentity for {role_arn}: {exc}") from None
            continue
        if status < 500:
            break
    try:
        root = ET.fromstring(payload)
    except ET.ParseError:
        root = ET.Element("none")
    if status != 200:
        code = root.findtext(f".//{_STS_NS}Code") or root.findtext(".//Code") or "?"
        message = root.findtext(f".//{_STS_NS}Message") or root.findtext(".//Message") or ""
        raise CredentialsError(f"STS AssumeRoleWithWebIdentity for {role_arn}: {code} ({status}) {message}".strip())
    found = root.find(f".//{_STS_NS}Credentials")
    if found is None:
        raise CredentialsError(f"STS AssumeRoleWithWebIdentity for {role_arn}: no Credentials in the answer")
    return Credentials(
        found.findtext(f"{_STS_NS}AccessKeyId") or "",
        found.findtext(f"{_STS_NS}SecretAccessKey") or "",
        found.findtext(f"{_STS_NS}SessionToken") or None,
        "web-identity",
    )


# -- container credentials (ECS, EKS Pod Identity) -------------------------------------------

_ECS_HOST = "http://169.254.170.2"
# A full URI over plain http may only point at the container agents or this host: anything
# else would send the authorization token, and trust credentials, across a network unencrypted.
_ALLOWED_HTTP_HOSTS = frozenset({"localhost", "169.254.170.2", "169.254.170.23", "fd00:ec2::23"})


def _allowed_full_uri(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        return True
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname in _ALLOWED_HTTP_HOSTS:
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def _container_auth_token(env: Mapping[str, str]) -> str | None:
    path = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    if path:  # the file wins: EKS Pod Identity rotates it
        try:
            with open(path, encoding="utf-8") as fh:
                token = fh.read()
        except OSError as exc:
            raise CredentialsError(f"cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {path}: {exc}") from None
    else:
        token = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN") or ""
    if "\r" in token or "\n" in token:  # it goes into a header verbatim: no header injection
        raise CredentialsError("the container authorization token contains a CR or LF; refusing it")
    return token or None


def _from_container(env: Mapping[str, str]) -> Credentials | None:
    relative, full = env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"), env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if relative:
        url = _ECS_HOST + relative
    elif full:
        if not _allowed_full_uri(full):
            raise CredentialsError(
                f"AWS_CONTAINER_CREDENTIALS_FULL_URI {full!r}: plain http is allowed only to loopback, "
                "169.254.170.2, 169.254.170.23 and fd00:ec2::23"
            )
        url = full
    else:
        return None
    headers = {"Host": host_header(url), "Accept": "application/json"}
    # The token belongs to the full-URI agents (EKS Pod Identity); the ECS agent on
    # 169.254.170.2 authenticates the task by its relative URI and gets none.
    token = None if relative else _container_auth_token(env)
    if token:
        headers["Authorization"] = token
    last = ""
    for attempt in range(3):
        try:
            # direct: botocore's container fetcher uses no proxy, even for an https full URI.
            resp = open_url("GET", url, headers, timeout=2.0, direct=True)
            status, payload = resp.status, resp.read_all()
        except AwsError as exc:
            last = str(exc)
        else:
            if status == 200:
                return _json_credentials(payload, "the container credentials endpoint", "container")
            last = f"HTTP {status}"
            if status < 500:
                break
        if attempt < 2:
            time.sleep(1.0)
    raise CredentialsError(f"container credentials from {url}: {last}")


# -- EC2 instance metadata ---------------------------------------------------------------------

_IMDS_TOKEN_TTL_S = "21600"


def _imds_endpoint(env: Mapping[str, str]) -> str:
    if env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT"):
        return env["AWS_EC2_METADATA_SERVICE_ENDPOINT"].rstrip("/")
    if env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "").lower() == "ipv6":
        return "http://[fd00:ec2::254]"
    return "http://169.254.169.254"


def _from_imds(env: Mapping[str, str]) -> Credentials | None:
    if env.get("AWS_EC2_METADATA_DISABLED", "").lower() == "true":
        return None
    base = _imds_endpoint(env)
    host = host_header(base)
    # The SDKs' defaults: one attempt of one second, so a start off EC2 is not held up.
    timeout = float(env.get("AWS_METADATA_SERVICE_TIMEOUT") or 1)
    attempts = max(1, int(env.get("AWS_METADATA_SERVICE_NUM_ATTEMPTS") or 1))

    def call(method: str, path: str, extra: dict[str, str]) -> tuple[int, bytes] | None:
        for _ in range(attempts):
            try:
                resp = open_url(method, base + path, {"Host": host, **extra}, timeout=timeout, direct=True)
                status, payload = resp.status, resp.read_all()
            except AwsError:
                continue
            if status < 500:
                return status, payload
        return None

    headers: dict[str, str] = {}
    got = call("PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": _IMDS_TOKEN_TTL_S})
    if got is not None and got[0] == 200:
        headers["X-aws-ec2-metadata-token"] = got[1].decode()
    elif got is not None and got[0] not in (403, 404, 405):
        return None  # a 400 or the like: not an IMDS we can talk to
    # Otherwise (no answer, or IMDSv2 not offered) try IMDSv1: a container behind a hop limit
    # of 1 never sees the token's answer but may still read metadata.
    got = call("GET", "/latest/meta-data/iam/security-credentials/", headers)
    if got is None or got[0] != 200 or not got[1].strip():
        return None  # off EC2, or an instance without a role: nothing here
    role = got[1].decode().splitlines()[0].strip()
    got = call("GET", f"/latest/meta-data/iam/security-credentials/{role}", headers)
    if got is None or got[0] != 200:
        raise CredentialsError(f"instance metadata: role {role!r} has no credentials")
    return _json_credentials(got[1], "instance metadata", "imds")
