"""TLS options: a CA given as PEM text, an expected server name, and skipping verification."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from canary.metrics.prometheus import PrometheusProvider, TLSConfig
from canary.protocols import MetricProviderError

from .fakes import Canned, fake_prometheus

AT = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
NAME = "prometheus.internal"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for prometheus.internal (not for 127.0.0.1)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed: cannot make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            f"/CN={NAME}",
            "-addext",
            f"subjectAltName=DNS:{NAME}",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
@pytest.mark.parametrize(
    ("tls", "works"),
    [
        pytest.param(
            lambda ca: TLSConfig(ca_pem=ca, server_name=NAME), True, id="ca-and-server-name"
        ),
        pytest.param(
            lambda ca: TLSConfig(insecure_skip_verify=True), True, id="insecure-skip-verify"
        ),
        pytest.param(lambda ca: TLSConfig(), False, id="system-cas-do-not-trust-it"),
        pytest.param(
            lambda ca: TLSConfig(ca_pem=ca), False, id="name-mismatch-without-server-name"
        ),
    ],
)
def test_tls_options_decide_whom_the_provider_trusts(
    certificate: tuple[Path, Path], tls: Callable[[str], TLSConfig], works: bool
) -> None:
    config = tls(certificate[0].read_text())
    with fake_prometheus(Canned(), tls=certificate) as url:
        provider = PrometheusProvider(url, tls=config, timeout=2)
        if works:
            assert provider.query("up", AT) is None
        else:
            with pytest.raises(MetricProviderError, match="TLS"):
                provider.query("up", AT)
