"""kind = "http", "tcp" and "grpc" against real servers on loopback."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from healthgauge.probes import SpecError, run
from probes.conftest import make, values
from support.expired_cert import make_expired_certificate
from support.tls import make_certificate, server_context


async def serve(app: web.Application, context: ssl.SSLContext | None = None) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


def app() -> web.Application:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text=f"status: all good ({request.method} {await request.text()})")

    async def fail(_: web.Request) -> web.Response:
        return web.Response(status=503, text="down")

    async def hop(_: web.Request) -> web.Response:
        raise web.HTTPFound("/ok")

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(3.0)
        return web.Response(text="late")

    application = web.Application()
    application.router.add_route("*", "/ok", ok)
    application.router.add_get("/fail", fail)
    application.router.add_get("/hop", hop)
    application.router.add_get("/slow", slow)
    return application


@pytest.fixture
async def http_port() -> AsyncIterator[int]:
    runner, port = await serve(app())
    yield port
    await runner.cleanup()


async def test_http_success_and_blackbox_samples(http_port: int) -> None:
    probe = make("http", {"url": f"http://127.0.0.1:{http_port}/ok", "body_regex": "all good"})
    result = await run(probe, 2.0)
    got = values(result.samples)
    assert result.success, result.error
    assert (got["probe_success"], got["probe_http_status_code"], got["probe_http_redirects"]) == (1, 200, 0)
    assert "probe_ssl_earliest_cert_expiry" not in got


async def test_http_method_body_headers_and_expected_status(http_port: int) -> None:
    probe = make(
        "http",
        {
            "url": f"http://127.0.0.1:{http_port}/ok",
            "method": "POST",
            "body": "ping",
            "headers": {"X-A": "1"},
            "body_regex": r"\(POST ping\)",
        },
    )
    assert (await run(probe, 2.0)).success
    down = make("http", {"url": f"http://127.0.0.1:{http_port}/fail"})
    result = await run(down, 2.0)
    assert (result.success, result.error) == (False, "HTTP 503 Service Unavailable, expected 2xx")
    assert values(result.samples)["probe_http_status_code"] == 503
    accepted = make("http", {"url": f"http://127.0.0.1:{http_port}/fail", "expect_status": [200, 503]})
    assert (await run(accepted, 2.0)).success


async def test_http_body_regex_redirects_and_timeout(http_port: int) -> None:
    nomatch = make("http", {"url": f"http://127.0.0.1:{http_port}/ok", "body_regex": "^nope"})
    assert (await run(nomatch, 2.0)).error == "the body does not match /^nope/"
    hop = make("http", {"url": f"http://127.0.0.1:{http_port}/hop"})
    result = await run(hop, 2.0)
    assert result.success
    assert values(result.samples)["probe_http_redirects"] == 1
    stay = make("http", {"url": f"http://127.0.0.1:{http_port}/hop", "follow_redirects": False})
    assert (await run(stay, 2.0)).error == "HTTP 302 Found, expected 2xx"
    slow = make("http", {"url": f"http://127.0.0.1:{http_port}/slow"})
    started = time.monotonic()
    result = await run(slow, 0.3)
    assert result.error == "no answer within the 0.3s timeout"
    assert time.monotonic() - started < 2.0  # the handler takes 3 s; margin for a loaded machine
    assert 0.3 <= values(result.samples)["probe_duration_seconds"] < 2.0


async def test_http_refused() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = await run(make("http", {"url": f"http://127.0.0.1:{port}/"}), 2.0)
    assert result.error == f"cannot connect to 127.0.0.1:{port}: connection refused"
    assert values(result.samples)["probe_http_status_code"] == 0


async def test_https_certificate_expiry_and_an_expired_certificate(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    runner, port = await serve(app(), server_context(cert, key))
    expired_cert, expired_key = make_expired_certificate(tmp_path / "expired")
    old_runner, old_port = await serve(app(), server_context(expired_cert, expired_key))
    try:
        good = make("http", {"url": f"https://127.0.0.1:{port}/ok", "ca_file": str(cert)})
        result = await run(good, 2.0)
        expiry = values(result.samples)["probe_ssl_earliest_cert_expiry"]
        assert result.success, result.error
        assert 86400 < expiry - time.time() < 3 * 86400
        expired = make("http", {"url": f"https://127.0.0.1:{old_port}/ok", "ca_file": str(expired_cert)})
        result = await run(expired, 2.0)
        assert not result.success
        assert result.error == "certificate verification failed: certificate has expired"
        insecure = make("http", {"url": f"https://127.0.0.1:{old_port}/ok", "insecure": True})
        result = await run(insecure, 2.0)
        assert result.success  # verification off: the expiry sample is what a rule judges
        assert values(result.samples)["probe_ssl_earliest_cert_expiry"] == 1577923200.0
    finally:
        await runner.cleanup()
        await old_runner.cleanup()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, r"targets\[0\].url: required for kind = 'http'"),
        ({"url": "ftp://x/"}, "url"),
        ({"url": "http://x/", "method": "BREW"}, "method: one of"),
        ({"url": "http://x/", "expect_status": [999]}, "expect_status"),
        ({"url": "http://x/", "body_regex": "("}, "body_regex: invalid regex"),
        ({"url": "http://x/", "headers": {"Bad Name": "v"}}, "headers"),
    ],
)
def test_http_bad_settings(raw: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        make("http", raw)


@pytest.fixture
async def line_server() -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        writer.write(b"+PONG\r\n" if line.strip() == b"PING" else b"-ERR unknown\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def test_tcp_connect_send_expect(line_server: int) -> None:
    plain = make("tcp", {"address": f"127.0.0.1:{line_server}"})
    assert (await run(plain, 2.0)).success
    ping = make("tcp", {"address": f"127.0.0.1:{line_server}", "send": "PING\r\n", "expect": r"^\+PONG"})
    assert (await run(ping, 2.0)).success
    wrong = make("tcp", {"address": f"127.0.0.1:{line_server}", "send": "HELLO\r\n", "expect": r"^\+PONG"})
    assert (await run(wrong, 2.0)).error == "expected /^\\+PONG/, got '-ERR unknown\\r\\n'"


async def test_tcp_over_tls(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)

    async def handle(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_context(cert, key))
    port = server.sockets[0].getsockname()[1]
    try:
        probe = make("tcp", {"address": f"127.0.0.1:{port}", "tls": True, "ca_file": str(cert), "expect": "hello"})
        result = await run(probe, 2.0)
        assert result.success, result.error
        assert values(result.samples)["probe_ssl_earliest_cert_expiry"] > time.time()
        untrusted = make("tcp", {"address": f"127.0.0.1:{port}", "tls": True})
        assert (await run(untrusted, 2.0)).error.startswith("certificate verification failed")
    finally:
        server.close()
        await server.wait_closed()


def test_tcp_bad_settings() -> None:
    with pytest.raises(SpecError, match=r"targets\[0\].address: host:port"):
        make("tcp", {"address": "nowhere"})
    with pytest.raises(SpecError, match=r"targets\[0\].ca_file: only with TLS on"):
        make("tcp", {"address": "h:1", "ca_file": "x.pem"})


async def test_grpc_health_check() -> None:
    grpc = pytest.importorskip("grpc")
    health = pytest.importorskip("grpc_health.v1.health")
    health_pb2 = pytest.importorskip("grpc_health.v1.health_pb2")
    health_pb2_grpc = pytest.importorskip("grpc_health.v1.health_pb2_grpc")
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        await servicer.set("db", health_pb2.HealthCheckResponse.SERVING)
        probe = make("grpc", {"address": f"127.0.0.1:{port}", "service": "db"})
        result = await run(probe, 2.0)
        got = values(result.samples)
        assert result.success, result.error
        assert got['probe_grpc_healthcheck_response{serving_status="SERVING"}'] == 1
        assert got["probe_grpc_status_code"] == 0
        await servicer.set("db", health_pb2.HealthCheckResponse.NOT_SERVING)
        result = await run(probe, 2.0)
        assert result.error == "service 'db' is NOT_SERVING"
        unknown = make("grpc", {"address": f"127.0.0.1:{port}", "service": "nope"})
        result = await run(unknown, 2.0)
        assert result.error.startswith("gRPC NOT_FOUND")
        assert values(result.samples)["probe_grpc_status_code"] == 5
        await probe.close()
        await unknown.close()
    finally:
        await server.stop(None)


async def test_grpc_over_tls(tmp_path: Path) -> None:
    grpc = pytest.importorskip("grpc")
    health = pytest.importorskip("grpc_health.v1.health")
    health_pb2_grpc = pytest.importorskip("grpc_health.v1.health_pb2_grpc")
    cert, key = make_certificate(tmp_path)
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    credentials = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
    port = server.add_secure_port("127.0.0.1:0", credentials)
    await server.start()
    try:
        trusted = make("grpc", {"address": f"127.0.0.1:{port}", "tls": True, "ca_file": str(cert)})
        result = await run(trusted, 3.0)
        assert result.success, result.error
        untrusted = make("grpc", {"address": f"127.0.0.1:{port}", "tls": True})
        result = await run(untrusted, 3.0)
        assert not result.success
        assert result.error.startswith("gRPC UNAVAILABLE"), result.error
        await trusted.close()
        await untrusted.close()
    finally:
        await server.stop(None)
