"""https targets: the system's CAs, a target's own ``ca_file``, ``insecure``, and the errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from healthgauge.agent._config import ConfigError, parse_config
from healthgauge.agent._scrape import ScrapeError, endpoint, fetch
from healthgauge.testing import MetricsServer
from support.fake_engine import FakeEngine
from support.tls import make_certificate, server_context

PAGE = b"app_state 1\n"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


def target(url: str, extra: str = ""):  # type: ignore[no-untyped-def]
    text = f'[[targets]]\nname = "w"\nurl = "{url}"\ninterval = "1s"\ntimeout = "500ms"\n{extra}'
    (t,) = parse_config(text, FakeEngine()).targets
    return t


async def scrape(url: str, extra: str = "") -> bytes:
    t = target(url, extra)
    ep = endpoint(t)
    try:
        return (await fetch(ep, t))[0]
    finally:
        ep.close()


async def test_a_private_ca_is_trusted_through_ca_file(certificate: tuple[Path, Path]) -> None:
    cert, _ = certificate
    with MetricsServer(PAGE, tls=server_context(*certificate)) as server:
        assert server.url.startswith("https://")
        assert await scrape(server.url, f'ca_file = "{cert}"\n') == PAGE
        localhost = f"https://localhost:{server.port}/metrics"
        assert await scrape(localhost, f'ca_file = "{cert}"\n') == PAGE


async def test_without_it_verification_fails_and_says_what_helps(certificate: tuple[Path, Path]) -> None:
    with MetricsServer(PAGE, tls=server_context(*certificate)) as server:
        with pytest.raises(ScrapeError) as info:
            await scrape(server.url)
        assert str(info.value) == (
            "certificate verification failed: self-signed certificate "
            "(ca_file trusts a private CA, insecure = true skips verification)"
        )
        assert await scrape(server.url, "insecure = true\n") == PAGE


async def test_the_name_is_checked(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path, names="DNS:other.example")
    with MetricsServer(PAGE, tls=server_context(cert, key)) as server:
        with pytest.raises(ScrapeError, match=r"^certificate verification failed: IP address mismatch"):
            await scrape(server.url, f'ca_file = "{cert}"\n')
        assert await scrape(server.url, f'ca_file = "{cert}"\ninsecure = true\n') == PAGE  # insecure wins


async def test_https_to_a_plain_http_server() -> None:
    with MetricsServer(PAGE) as server, pytest.raises(ScrapeError, match=r"^TLS handshake failed: "):
        await scrape(server.url.replace("http://", "https://"))


def test_an_unreadable_ca_file_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        target("https://127.0.0.1:1/metrics", 'ca_file = "/nonexistent.pem"\n')
    assert str(info.value) == 'targets[0].ca_file: cannot load "/nonexistent.pem": No such file or directory'
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=rf'^targets\[0\].ca_file: cannot load "{junk}": '):
        target("https://127.0.0.1:1/metrics", f'ca_file = "{junk}"\n')
    with pytest.raises(ConfigError, match=r"^targets\[0\]\.insecure: true \(skip certificate verification\) or false"):
        target("https://127.0.0.1:1/metrics", 'insecure = "yes"\n')


def test_a_relative_ca_file_is_taken_from_the_config_files_directory(
    certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    from healthgauge.agent._config import load_config

    (tmp_path / "ca.pem").write_bytes(certificate[0].read_bytes())
    path = tmp_path / "agent.toml"
    path.write_text('[[targets]]\nname = "w"\nurl = "https://127.0.0.1:1/metrics"\nca_file = "ca.pem"\n')
    assert load_config(path, FakeEngine()).targets[0].ca_file == str(tmp_path / "ca.pem")
