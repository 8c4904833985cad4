"""``healthgauge COMMAND [ARGS]``: dispatch to one command module, importing nothing else.

`healthgauge check` must start about as fast as Python itself, so this module imports no argparse,
re, json or typing (DEVELOPERS.md, "The check path"); each command module parses its own flags.

Exit codes shared by every command (a command documents its own meaning for 0-2):
3 means the command line itself is wrong: an unknown command or flag, or an invalid expression.
"""

from __future__ import annotations

import sys

from healthgauge.health._status import EXIT_INTERRUPTED, EXIT_USAGE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

# name -> (module with `main(args: list[str]) -> int`, one line of help)
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("healthgauge._check._command", "one-shot probe: fetch /metrics, evaluate PromQL conditions, exit 0-3"),
    "query": ("healthgauge._cmd_query", "evaluate a PromQL expression over a scrape, a file or a history"),
    "agent": ("healthgauge.agent.commands._cmd", "run the health agent: scrape targets, judge, serve every consumer"),
    "ctl": ("healthgauge.agent.commands._ctl", "set a target's admin state on a running agent: drain | maint | ready"),
    "broker": ("healthgauge.broker._cmd", "run the request broker: offer, queue and proxy requests to workers"),
    "demo": ("healthgauge.demo._cmd", "start a demo service and the agent on loopback and watch them"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: healthgauge COMMAND [ARGS]   (healthgauge COMMAND --help for its flags)", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "  --version  print the version and exit"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code; ``argv`` excludes the program name."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print(usage(), file=sys.stderr)
        return EXIT_USAGE
    name, rest = args[0], args[1:]
    if name in ("-h", "--help", "help"):
        print(usage())
        return 0
    if name in ("-V", "--version"):
        from healthgauge import __version__

        print(f"healthgauge {__version__}")
        return 0
    if name not in COMMANDS:
        print(f"healthgauge: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return EXIT_USAGE
    try:
        module = __import__(COMMANDS[name][0], fromlist=["main"])
        code: int = module.main(rest)
    except KeyboardInterrupt:  # Ctrl-C: end as a program does, without a traceback
        return EXIT_INTERRUPTED
    return code
