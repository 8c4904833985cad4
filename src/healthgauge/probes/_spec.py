"""Reading a probe's settings from its target's table: typed values, errors that name the key.

Each kind declares its keys and reads them through :class:`Table`; the agent's configuration
loader turns a :class:`SpecError` into its own error, prefixed with the file and the target
(``targets[2].query: a non-empty string, got 3``). Durations are parsed by the loader's own
function, handed in, so both read ``"500ms"`` alike.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class SpecError(ValueError):
    """A probe setting is wrong; the message starts with the key."""


@dataclass(frozen=True, slots=True)
class Table:
    """One target's table, the key prefix for messages, and how paths and durations are read."""

    raw: Mapping[str, Any]
    key: str
    base: Path | None
    duration: Callable[[object, str], float]

    def where(self, name: str) -> str:
        return f"{self.key}.{name}"

    def required(self, name: str) -> Any:
        if name not in self.raw:
            raise SpecError(f"{self.where(name)}: required for kind = {self.raw.get('kind')!r}")
        return self.raw[name]

    def text(self, name: str, default: str | None = None) -> str:
        value = self.required(name) if default is None else self.raw.get(name, default)
        if not isinstance(value, str) or (default is None and not value.strip()):
            raise SpecError(f"{self.where(name)}: a non-empty string, got {value!r}")
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.raw.get(name, default)
        if not isinstance(value, bool):
            raise SpecError(f"{self.where(name)}: true or false, got {value!r}")
        return value

    def whole(self, name: str, default: int, low: int, high: int) -> int:
        value = self.raw.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise SpecError(f"{self.where(name)}: a whole number from {low} to {high}, got {value!r}")
        return value

    def seconds(self, name: str, default: float) -> float:
        if name not in self.raw:
            return default
        value = self.duration(self.raw[name], self.where(name))
        if value <= 0:
            raise SpecError(f"{self.where(name)}: {self.raw[name]!r} is too short")
        return value

    def path(self, name: str) -> str:
        value = self.text(name)
        if "\0" in value:
            raise SpecError(f"{self.where(name)}: a file path, got {value!r}")
        path = Path(value).expanduser()
        if not path.is_absolute() and self.base is not None:
            path = self.base / path
        return str(path)

    def strings(self, name: str, *, required: bool = False) -> tuple[str, ...]:
        value = self.required(name) if required else self.raw.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or (required and not value):
            raise SpecError(f'{self.where(name)}: a list of strings, e.g. ["a", "b"], got {value!r}')
        return tuple(value)

    def headers(self, name: str = "headers") -> tuple[tuple[str, str], ...]:
        value = self.raw.get(name, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise SpecError(f"{self.where(name)}: a table of name = value strings, got {value!r}")
        return tuple(value.items())

    def address(self, name: str = "address") -> tuple[str, int]:
        text = self.text(name)
        host, sep, port = text.rpartition(":")
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
            raise SpecError(f'{self.where(name)}: host:port, got "{text}"')
        return host, int(port)

    def secret(self) -> Secret | None:
        """``password_file`` (read at each connect, so a rotated password works) or
        ``password_env`` (an environment variable's name); never the password itself."""
        if "password" in self.raw:
            raise SpecError(
                f"{self.where('password')}: not accepted in a config file; use password_file or password_env"
            )
        if "password_file" in self.raw and "password_env" in self.raw:
            raise SpecError(f"{self.key}: give password_file or password_env, not both")
        if "password_file" in self.raw:
            secret = Secret(file=self.path("password_file"), key=self.where("password_file"))
        elif "password_env" in self.raw:
            secret = Secret(env=self.text("password_env"), key=self.where("password_env"))
        else:
            return None
        secret.read()  # refused at start when it cannot be read
        return secret


@dataclass(frozen=True, slots=True)
class Secret:
    """Where a password is read from. ``repr`` and every message name the place, never the value."""

    file: str = ""
    env: str = ""
    key: str = ""

    def read(self) -> str:
        if self.env:
            value = os.environ.get(self.env)
            if value is None:
                raise SpecError(f"{self.key}: the environment variable {self.env} is not set")
            return value
        try:
            with open(self.file, encoding="utf-8") as handle:
                return handle.read().rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise SpecError(f"{self.key}: cannot read {self.file}: {why}") from None


def client_tls(table: Table, *, enabled: bool) -> ssl.SSLContext | None:
    """A client TLS context from ``ca_file`` and ``insecure`` (``None`` when TLS is off)."""
    if not enabled:
        for name in ("ca_file", "insecure", "server_name"):
            if name in table.raw:
                raise SpecError(f"{table.where(name)}: only with TLS on")
        return None
    insecure = table.flag("insecure")
    try:
        context = ssl.create_default_context(cafile=table.path("ca_file") if "ca_file" in table.raw else None)
    except OSError as exc:
        raise SpecError(f"{table.where('ca_file')}: cannot load: {exc.strerror or exc}") from None
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
