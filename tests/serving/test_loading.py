"""Model URIs (s3 against a real moto server, https against a local TLS server, file://),
sha256 pinning, and refusing code-running model files."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests


def served_prediction_ok(srv: Any, sklearn_model: Any) -> None:
    _, model, x = sklearn_model
    resp = requests.post(srv.url + "/predict", json={"instances": x.tolist()})
    assert resp.json() == {"predictions": model.predict(x).tolist()}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_file_uri_with_pinned_sha(start_server: Any, sklearn_model: Any) -> None:
    path = sklearn_model[0]
    srv = start_server(path.as_uri(), MLINFRA_MODEL_SHA256=sha256(path))
    served_prediction_ok(srv, sklearn_model)
    assert any(r.get("sha256") == sha256(path) for r in srv.log_records())


def test_sha_mismatch_is_refused(start_server: Any, sklearn_model: Any) -> None:
    srv = start_server(str(sklearn_model[0]), ready=False, MLINFRA_MODEL_SHA256="0" * 64)
    assert srv.wait_exit(120) == 1
    failure = [r for r in srv.log_records() if r["msg"] == "model load failed; exiting"]
    assert "sha256 mismatch" in str(failure[0]["error"])
    assert "refusing to load" in str(failure[0]["error"])


def test_code_running_pickle_is_not_loaded_without_opt_in(start_server: Any, tmp_path: Path, helpers: Any) -> None:
    marker = tmp_path / "pwned"
    evil = helpers.make_pickle(tmp_path / "evil.pkl", f"Exploit({str(marker)!r})")
    srv = start_server(str(evil), ready=False)
    assert srv.wait_exit(120) == 1
    assert not marker.exists(), "the pickle's code ran"
    error = next(r["error"] for r in srv.log_records() if r["msg"] == "model load failed; exiting")
    assert "refusing" in str(error)
    assert "MLINFRA_TRUSTED_PICKLE" in str(error)


def test_skops_with_foreign_types_needs_opt_in(start_server: Any, tmp_path: Path) -> None:
    import skops.io as sio

    # A model object from outside scikit-learn: skops would have to import and build it.
    code = (
        "import skops.io as sio, slow_models; "
        f"sio.dump(slow_models.SlowModel(0.0, 3), {str(tmp_path / 'custom.skops')!r})"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
    )
    assert sio.get_untrusted_types(file=tmp_path / "custom.skops") == ["slow_models.SlowModel"]
    srv = start_server(str(tmp_path / "custom.skops"), ready=False)
    assert srv.wait_exit(120) == 1
    assert "slow_models.SlowModel" in srv.logs()
    trusted = start_server(str(tmp_path / "custom.skops"), MLINFRA_TRUSTED_PICKLE="true")
    assert requests.post(trusted.url + "/predict", json={"features": [1, 2, 3]}).json() == {"prediction": 6.0}


def test_unknown_extension_needs_framework(start_server: Any, tmp_path: Path) -> None:
    odd = tmp_path / "model.bin"
    odd.write_bytes(b"\x00")
    srv = start_server(str(odd), ready=False)
    assert srv.wait_exit(120) == 1
    assert "MLINFRA_FRAMEWORK" in srv.logs()


AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def test_s3_model_from_moto_server(
    moto: str, start_server: Any, sklearn_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    s3 = boto3.client("s3", endpoint_url=moto)
    s3.create_bucket(Bucket="acme-models")
    s3.upload_file(str(sklearn_model[0]), "acme-models", "fraud/v12/model.skops")
    srv = start_server(
        "s3://acme-models/fraud/v12/model.skops",
        AWS_ENDPOINT_URL=moto,
        MLINFRA_MODEL_SHA256=sha256(sklearn_model[0]),
        **AWS_ENV,
    )
    served_prediction_ok(srv, sklearn_model)
    missing = start_server("s3://acme-models/fraud/v13/model.skops", ready=False, AWS_ENDPOINT_URL=moto, **AWS_ENV)
    assert missing.wait_exit(120) == 1
    assert "could not download s3://acme-models/fraud/v13/model.skops" in missing.logs()


@pytest.fixture(scope="module")
def https_dir(tmp_path_factory: pytest.TempPathFactory, helpers: Any) -> Iterator[tuple[str, Path, Path]]:
    """A TLS file server on 127.0.0.1 with a self-signed certificate: (base URL, dir, cert)."""
    d = tmp_path_factory.mktemp("https")
    cert, key = helpers.self_signed_cert(d)
    root = d / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}", root, cert
    httpd.shutdown()
    httpd.server_close()


def test_https_model(https_dir: tuple[str, Path, Path], start_server: Any, sklearn_model: Any) -> None:
    base, root, cert = https_dir
    (root / "model.skops").write_bytes(sklearn_model[0].read_bytes())
    srv = start_server(
        f"{base}/model.skops",
        SSL_CERT_FILE=str(cert),
        MLINFRA_MODEL_SHA256=sha256(sklearn_model[0]),
    )
    served_prediction_ok(srv, sklearn_model)
    # Without trusting the certificate the download must fail, not fall back to plain HTTP.
    untrusted = start_server(f"{base}/model.skops", ready=False)
    assert untrusted.wait_exit(120) == 1
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.logs()


def test_plain_http_uri_refused(start_server: Any) -> None:
    srv = start_server("http://127.0.0.1:9/model.skops", ready=False)
    assert srv.wait_exit(120) == 1
    assert "scheme 'http' is not supported" in srv.logs()
