"""Readers of one configuration value each (a duration, a size, an address, a URL, a path, a
header table, TLS settings, a name, a table's keys), raising :class:`AgentConfigError` with the
key and the offending text.

``_config`` assembles the agent's configuration from these; they know nothing of targets or
rules.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from healthgauge.http._http11 import RequestError
from healthgauge.http._url import check_header, parse_url

MAX_BODY_LIMIT = 32 * 1024 * 1024  # the exposition parser's own page cap (DEFAULT_MAX_BODY_BYTES)
MAX_SERIES_CAP = 1_000_000
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE = re.compile(r"(\d+)\s*(B|KiB|MiB|GiB|KB|MB|GB)?")
_SIZE_UNITS = {None: 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}


class AgentConfigError(Exception):
    """The configuration is wrong; the message names the file, the key and the offending text."""


ConfigError = AgentConfigError  # the name before 0.2 (it clashed across the public API); kept as an alias


@dataclass(frozen=True, slots=True, kw_only=True)
class Address:
    """Where a listener binds: ``host:port`` (port 0 picks a free one), or a unix socket path."""

    host: str = ""
    port: int = 0
    path: str = ""

    def __str__(self) -> str:
        if self.path:
            return f"unix:{self.path}"
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_address(value: object, key: str, *, unix: bool = False) -> Address:
    """``host:port``, ``[v6]:port`` or (where allowed) ``unix:/path``."""
    if not isinstance(value, str):
        raise ConfigError(f'{key}: an address is a string such as "127.0.0.1:8099", got {value!r}')
    if value.startswith("unix:"):
        if not unix:
            raise ConfigError(f'{key}: "{value}": a unix socket is not supported here')
        if not value[5:].startswith("/"):
            raise ConfigError(f'{key}: "{value}": a unix socket needs an absolute path')
        return Address(path=value[5:])
    host, sep, port = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f'{key}: invalid address "{value}": expected host:port')
    return Address(host=host, port=int(port))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_duration(value: object, key: str) -> float:
    """``"500ms"``, ``"1s"``, ``"5m"``, ``"1h"`` or a sum such as ``"1m30s"``, in seconds."""
    if not isinstance(value, str):
        raise ConfigError(f'{key}: a duration is a string such as "1s" or "500ms", got {value!r}')
    text = value.strip()
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ConfigError(f'{key}: invalid duration "{value}": use a number with ms, s, m or h (e.g. "500ms", "1m30s")')
    return total


def _count(raw: dict[str, Any], name: str, key: str) -> int:
    value = raw.get(name, {"rise": 2, "fall": 3}.get(name, 3))
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise ConfigError(f"{key}.{name}: a whole number from 1 to 1000, got {value!r}")
    return value


def _headers(raw: dict[str, Any], key: str) -> tuple[tuple[str, str], ...]:
    headers = raw.get("headers", {})
    if not isinstance(headers, dict):
        raise ConfigError(f"{key}.headers: a table of name = value, got {headers!r}")
    out = []
    for name, value in headers.items():
        # Values are never quoted in an error: they are where API keys go.
        if not isinstance(value, str) or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
            raise ConfigError(f"{key}.headers.{name}: an HTTP header name = a one-line string")
        try:
            check_header(name, value)
        except RequestError as exc:
            raise ConfigError(f"{key}.headers.{name}: {exc.message}") from None
        out.append((name, value))
    if "token" in raw:
        token = raw["token"]
        if not isinstance(token, str) or not token or not token.isprintable() or any(c.isspace() for c in token):
            raise ConfigError(f"{key}.token: a bearer token (printable, without spaces; the value is not shown)")
        if not token.isascii():
            raise ConfigError(f"{key}.token: a bearer token is ASCII text (the value is not shown)")
        if any(n.lower() == "authorization" for n, _ in out):
            raise ConfigError(f"{key}.token: give either token or an Authorization header, not both")
        out.append(("Authorization", f"Bearer {token}"))
    return tuple(out)


def _limit(raw: dict[str, Any], name: str, key: str, default: int) -> int:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SERIES_CAP:
        raise ConfigError(f"{key}.{name}: a whole number from 1 to {MAX_SERIES_CAP}, got {value!r}")
    return value


def _duration(raw: dict[str, Any], name: str, key: str, default: float, *, minimum: float) -> float:
    if name not in raw:
        return default
    seconds = parse_duration(raw[name], f"{key}.{name}")
    if seconds < minimum or (minimum > 0 and seconds == 0):
        raise ConfigError(f'{key}.{name}: "{raw[name]}" is too short')
    return seconds


def _size(value: object, key: str) -> int:
    size = value if isinstance(value, int) and not isinstance(value, bool) else 0
    match = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is not None:
        size = int(match.group(1)) * _SIZE_UNITS[match.group(2)]
    if size <= 0:
        raise ConfigError(f'{key}: a size in bytes, or a string such as "16MiB", got {value!r}')
    if size > MAX_BODY_LIMIT:
        raise ConfigError(f"{key}: {value!r} is over the parser's page limit of 32MiB")
    return size


def _url(value: object, key: str) -> str:
    """An absolute http(s) URL, parsed by the scrape client's own rules (healthgauge.http._url)."""
    if not isinstance(value, str) or not value.lower().startswith(("http://", "https://")):
        raise ConfigError(f'{key}: an http:// or https:// URL, got "{value}"')
    try:
        parse_url(value)
    except RequestError as exc:
        raise ConfigError(f"{key}: {exc.message}") from None
    return value


def _path(value: object, key: str, base: Path | None) -> str:
    """A file path; a relative one is taken from ``base``."""
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        raise ConfigError(f"{key}: a file path (a non-empty string), got {value!r}")
    path = Path(value).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    return str(path)


def read_token_file(path: str) -> str:
    """A bearer token from a file: one line, stripped; ValueError saying what is wrong with it,
    never what it holds."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read(64 * 1024)
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f'cannot read "{path}": {getattr(exc, "strerror", None) or exc}') from None
    token, _, rest = text.strip().partition("\n")
    token = token.strip()
    if not token:
        raise ValueError(f'"{path}" is empty')
    if rest.strip():
        raise ValueError(f'"{path}" holds more than one line (the token is not shown)')
    if not token.isascii() or not token.isprintable() or " " in token:
        raise ValueError(f'"{path}" holds spaces, control or non-ASCII characters (the token is not shown)')
    return token


def _name(value: object, key: str) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise ConfigError(
            f"{key}: a target name is letters, digits, '_', '.' or '-' (it appears in URLs and "
            f"HAProxy's agent-send), got {value!r}"
        )
    return value


def _table(doc: dict[str, Any], name: str, prefix: str) -> dict[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{prefix}{name}: must be a table ([{name}]), got {value!r}")
    return value


def _known(raw: Mapping[str, object], known: tuple[str, ...], prefix: str) -> None:
    for name in raw:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else f" (known: {', '.join(known)})"
            raise ConfigError(f'{prefix}{name}: unknown key "{name}"{hint}')


def _tls(raw: dict[str, Any], key: str, base: Path | None) -> dict[str, Any]:
    """``ca_file`` (loaded now: an unreadable or empty bundle is refused at start, not at the
    first scrape) and ``insecure``."""
    insecure = raw.get("insecure", False)
    if not isinstance(insecure, bool):
        raise ConfigError(f"{key}.insecure: true (skip certificate verification) or false, got {insecure!r}")
    if "ca_file" not in raw:
        return {"ca_file": "", "insecure": insecure}
    path = _path(raw["ca_file"], f"{key}.ca_file", base)
    try:
        ssl.create_default_context(cafile=path)
    except OSError as exc:  # ssl.SSLError is an OSError too
        why = exc.strerror or getattr(exc, "reason", None) or str(exc)
        raise ConfigError(f'{key}.ca_file: cannot load "{path}": {why}') from None
    return {"ca_file": path, "insecure": insecure}
