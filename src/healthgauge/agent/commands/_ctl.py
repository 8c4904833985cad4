"""``healthgauge ctl drain|maint|ready TARGET [--admin ADDR]`` and ``healthgauge ctl status [TARGET]``.

Talks to a running agent's admin listener. Exit codes: 0 done; 2 the agent could not be reached,
or refused (unknown target); 3 the command line is wrong.
"""

from __future__ import annotations

import http.client
import json
import socket
import sys

from healthgauge.agent._config import ConfigError, parse_address, read_token_file
from healthgauge.health._status import EXIT_FAILED, EXIT_OK, EXIT_USAGE

DEFAULT_ADMIN = "127.0.0.1:8100"
TIMEOUT = 5.0

USAGE = f"""\
usage: healthgauge ctl drain|maint|ready TARGET [--admin ADDR] [--token-file FILE]
       healthgauge ctl status [TARGET] [--admin ADDR] [--token-file FILE]

  drain    stop new traffic to TARGET (HAProxy DRAIN, readiness 503, Envoy ejects it)
  maint    take TARGET out entirely (HAProxy MAINT)
  ready    return TARGET to what its checks say
  status   print the state of every target (or one) as JSON lines
  --admin  the agent's admin listener: host:port or unix:/path (default {DEFAULT_ADMIN})
  --token-file  the file holding the agent's admin_token_file token, when it has one
"""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=TIMEOUT)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(TIMEOUT)
        sock.connect(self.path)
        self.sock = sock


def main(args: list[str]) -> int:
    parsed = _parse(args)
    if isinstance(parsed, int):
        return parsed
    verb, target, admin, token = parsed
    if verb == "status":
        method, path = "GET", f"/v1/targets/{target}" if target else "/v1/targets"
    else:
        method, path = "POST", f"/v1/targets/{target}/{verb}"
    try:
        status, body = _call(admin, method, path, token)
    except (OSError, http.client.HTTPException) as exc:
        print(f"healthgauge ctl: cannot reach the agent at {admin}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        doc = json.loads(body)
    except ValueError:
        print(f"healthgauge ctl: the agent at {admin} answered {status} with no JSON", file=sys.stderr)
        return EXIT_FAILED
    if status != 200:
        print(f"healthgauge ctl: {doc.get('error', status)}", file=sys.stderr)
        return EXIT_FAILED
    for state in doc if isinstance(doc, list) else [doc]:
        print(json.dumps(state))
    return EXIT_OK


def _call(admin: str, method: str, path: str, token: str = "") -> tuple[int, bytes]:
    address = parse_address(admin, "--admin", unix=True)
    conn = (
        _UnixConnection(address.path)
        if address.path
        else http.client.HTTPConnection(address.host, address.port, timeout=TIMEOUT)
    )
    try:
        headers = {"Content-Length": "0"} if method == "POST" else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read(1 << 20)
    finally:
        conn.close()


def _parse(args: list[str]) -> tuple[str, str, str, str] | int:
    admin, token = DEFAULT_ADMIN, ""
    words: list[str] = []
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg in ("-h", "--help"):
            print(USAGE, end="")
            return EXIT_OK
        if arg == "--admin" or arg.startswith("--admin="):
            value = arg.partition("=")[2] or (rest.pop(0) if rest else "")
            if not value:
                return _usage("--admin needs a value")
            admin = value
        elif arg == "--token-file" or arg.startswith("--token-file="):
            value = arg.partition("=")[2] or (rest.pop(0) if rest else "")
            if not value:
                return _usage("--token-file needs a value")
            try:
                token = read_token_file(value)
            except ValueError as exc:
                return _usage(f"--token-file: {exc}")
        elif arg.startswith("-"):
            return _usage(f"unknown flag {arg!r}")
        else:
            words.append(arg)
    try:
        parse_address(admin, "--admin", unix=True)
    except ConfigError as exc:
        return _usage(str(exc))
    if not words or words[0] not in ("drain", "maint", "ready", "status"):
        return _usage("expected drain, maint, ready or status")
    if words[0] == "status" and len(words) <= 2:
        return "status", words[1] if len(words) == 2 else "", admin, token
    if len(words) != 2:
        return _usage(f"{words[0]} takes exactly one TARGET")
    return words[0], words[1], admin, token


def _usage(message: str) -> int:
    print(f"healthgauge ctl: {message}\n\n{USAGE}", file=sys.stderr, end="")
    return EXIT_USAGE
