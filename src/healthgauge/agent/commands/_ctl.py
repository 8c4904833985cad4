"""``healthgauge ctl drain|maint|ready TARGET [--admin ADDR]``, ``healthgauge ctl status [TARGET]`` and
``healthgauge ctl reload``.

Talks to a running agent's admin listener. Exit codes: 0 done; 2 the agent could not be reached,
or refused (unknown target); 3 the command line is wrong.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import sys

from healthgauge._args import CommandParser
from healthgauge.agent._config import ConfigError, parse_address, read_token_file
from healthgauge.health._status import EXIT_FAILED, EXIT_OK, EXIT_USAGE

DEFAULT_ADMIN = "127.0.0.1:8100"
TIMEOUT = 5.0

VERBS = ("drain", "maint", "ready", "status", "reload")
EXIT_CODES = {
    EXIT_OK: "done",
    EXIT_FAILED: "the agent could not be reached, or refused (an unknown target, a configuration it will not load)",
    EXIT_USAGE: "the command line is wrong",
}
HINT = (
    f'; is an agent running with admin = "{DEFAULT_ADMIN}" under [agent]? The admin listener is off '
    "unless configured; give its address with --admin ADDR"
)


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
    elif verb == "reload":
        method, path = "POST", "/v1/reload"
    else:
        method, path = "POST", f"/v1/targets/{target}/{verb}"
    try:
        status, body = _call(admin, method, path, token)
    except (OSError, http.client.HTTPException) as exc:
        hint = HINT if admin == DEFAULT_ADMIN and isinstance(exc, ConnectionRefusedError) else ""
        print(f"healthgauge ctl: cannot reach the agent at {admin}: {exc}{hint}", file=sys.stderr)
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


def _parser() -> CommandParser:
    p = CommandParser(
        "healthgauge ctl",
        usage=(
            "healthgauge ctl drain|maint|ready TARGET [--admin ADDR] [--token-file FILE]\n"
            "       healthgauge ctl status [TARGET] [--admin ADDR] [--token-file FILE]\n"
            "       healthgauge ctl reload [--admin ADDR] [--token-file FILE]"
        ),
        description=(
            "Talk to a running agent's admin listener.\n\n"
            "  drain    stop new traffic to TARGET (HAProxy DRAIN, readiness 503, Envoy ejects it)\n"
            "  maint    take TARGET out entirely (HAProxy MAINT)\n"
            "  ready    return TARGET to what its checks say\n"
            "  status   print the state of every target (or one) as JSON lines\n"
            "  reload   make the agent read its configuration file again (as SIGHUP does); a file that\n"
            "           is not valid is refused and the agent keeps running the one it has (exit 2)"
        ),
        exit_codes=EXIT_CODES,
    )
    p.add_argument("words", nargs="*", metavar="VERB [TARGET]", help=argparse.SUPPRESS)
    p.add_argument(
        "--admin",
        metavar="ADDR",
        default=DEFAULT_ADMIN,
        help=(
            f"the agent's admin listener: host:port or unix:/path (default {DEFAULT_ADMIN}, which needs "
            f'admin = "{DEFAULT_ADMIN}" under [agent]: the admin listener is off by default)'
        ),
    )
    p.add_argument(
        "--token-file",
        metavar="FILE",
        default="",
        help="the file holding the agent's admin_token_file token, when it has one",
    )
    return p


def _parse(args: list[str]) -> tuple[str, str, str, str] | int:
    parser = _parser()
    options = parser.parse(args)
    if isinstance(options, int):
        return options
    words: list[str] = options.words
    token = ""
    if options.token_file:
        try:
            token = read_token_file(options.token_file)
        except ValueError as exc:
            return parser.usage_error(f"--token-file: {exc}")
    try:
        parse_address(options.admin, "--admin", unix=True)
    except ConfigError as exc:
        return parser.usage_error(str(exc))
    if not words or words[0] not in VERBS:
        return parser.usage_error("expected drain, maint, ready, status or reload")
    if words[0] == "status" and len(words) <= 2:
        return "status", words[1] if len(words) == 2 else "", options.admin, token
    if words[0] == "reload":
        return ("reload", "", options.admin, token) if len(words) == 1 else parser.usage_error("reload takes no TARGET")
    if len(words) != 2:
        return parser.usage_error(f"{words[0]} takes exactly one TARGET")
    return words[0], words[1], options.admin, token
