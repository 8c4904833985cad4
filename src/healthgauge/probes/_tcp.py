"""``kind = "tcp"``: connect, optionally over TLS, optionally send a line and expect an answer.

Settings: ``address`` (``host:port``), ``send`` (a string written after connecting: TOML escapes
such as ``"PING\\r\\n"`` work), ``expect`` (a regex the data received must match, read until it
does, the peer closes or :data:`MAX_READ` bytes came), ``tls`` (false), ``insecure``, ``ca_file``,
``server_name`` (the name checked in the certificate; the host by default).

Samples: ``probe_ssl_earliest_cert_expiry`` over TLS, beside the common ones: a connect and its
time are what a TCP probe measures.
"""

from __future__ import annotations

import asyncio
import re
import ssl

from healthgauge.exposition import Sample
from healthgauge.probes._base import ProbeError, Result, sample
from healthgauge.probes._spec import SpecError, Table, client_tls
from healthgauge.probes._tls import expiry

KEYS = ("address", "send", "expect", "tls", "insecure", "ca_file", "server_name")
#: Bytes read while waiting for ``expect``: a banner or a reply line, not a stream.
MAX_READ = 64 * 1024


def make(table: Table, timeout: float) -> TcpProbe:
    del timeout
    host, port = table.address()
    tls = table.flag("tls")
    context = client_tls(table, enabled=tls)
    expect = None
    if "expect" in table.raw:
        try:
            expect = re.compile(table.text("expect").encode())
        except re.error as exc:
            raise SpecError(f"{table.where('expect')}: invalid regex: {exc}") from None
    server_name = table.text("server_name", host) if tls else None
    return TcpProbe(host, port, table.text("send", "").encode(), expect, context, server_name)


class TcpProbe:
    kind = "tcp"

    def __init__(
        self,
        host: str,
        port: int,
        send: bytes,
        expect: re.Pattern[bytes] | None,
        tls: ssl.SSLContext | None,
        server_name: str | None,
    ) -> None:
        self.host, self.port = host, port
        self.send, self.expect = send, expect
        self.tls, self.server_name = tls, server_name

    def describe(self) -> str:
        return f"{self.host}:{self.port}"

    async def probe(self, budget: float) -> Result:
        del budget
        try:
            reader, writer = await asyncio.open_connection(
                self.host, self.port, ssl=self.tls, server_hostname=self.server_name
            )
        except ssl.SSLCertVerificationError as exc:
            raise ProbeError(f"certificate verification failed: {exc.verify_message}") from None
        except ssl.SSLError as exc:
            raise ProbeError(f"TLS handshake failed: {exc.reason or exc}") from None
        except OSError as exc:
            raise ProbeError(f"cannot connect to {self.describe()}: {exc.strerror or exc}") from None
        try:
            samples: tuple[Sample, ...] = ()
            if self.tls is not None:
                cert = expiry(writer.get_extra_info("ssl_object"))
                samples = () if cert is None else (sample("probe_ssl_earliest_cert_expiry", cert),)
            if self.send:
                writer.write(self.send)
                await writer.drain()
            if self.expect is not None:
                error = await _expect(reader, self.expect)
                if error:
                    return Result(False, samples, error)
            return Result(True, samples)
        except OSError as exc:
            raise ProbeError(f"{self.describe()}: {exc.strerror or exc}") from None
        finally:
            writer.close()

    async def close(self) -> None:
        return None


async def _expect(reader: asyncio.StreamReader, pattern: re.Pattern[bytes]) -> str:
    """ "" once the data received matches ``pattern``, else why not."""
    data = bytearray()
    while len(data) < MAX_READ:
        chunk = await reader.read(MAX_READ - len(data))
        if not chunk:
            break
        data += chunk
        if pattern.search(data):
            return ""
    got = bytes(data[:60]).decode("ascii", "backslashreplace")
    return f"expected /{pattern.pattern.decode('ascii', 'backslashreplace')}/, got {got!r}"
