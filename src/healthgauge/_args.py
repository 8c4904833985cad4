"""Command lines for ``agent``, ``ctl``, ``demo`` and ``query``: argparse with the project's exit codes.

argparse exits 2 on a wrong command line and ``SystemExit`` on ``--help``; here a wrong command line
is exit 3 (``EXIT_USAGE``, as for every command, ``health._status``), and both come back as return
values, so a command's ``main`` returns its code. Each command lists its exit codes
(``EXIT_CODES``), shown under ``--help`` and held equal to README's tables by a test.
``healthgauge check`` keeps its own hand parser: argparse alone costs more than a check's budget
(DEVELOPERS.md, "The check path").
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from typing import NoReturn

from healthgauge.health._status import EXIT_USAGE

__all__ = ["CommandParser", "UsageError"]


class UsageError(Exception):
    """The command line is wrong; ``str()`` says how, in the command's words."""


class _Stop(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class CommandParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` for one command: ``parse(args)`` returns the options, or the exit code
    when the command must stop there (0 after ``--help``, 3 with a message for a wrong line)."""

    def __init__(
        self, prog: str, *, exit_codes: Mapping[int, str], usage: str | None = None, description: str = ""
    ) -> None:
        epilog = "exit codes:\n" + "\n".join(f"  {code}  {meaning}" for code, meaning in sorted(exit_codes.items()))
        super().__init__(
            prog=prog,
            usage=usage,
            description=description,
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            allow_abbrev=False,
        )

    def parse(self, args: Sequence[str]) -> argparse.Namespace | int:
        try:
            return self.parse_args(args)
        except _Stop as stop:
            return stop.code
        except UsageError as exc:
            return self.usage_error(str(exc))

    def usage_error(self, message: str) -> int:
        """Say what is wrong with the command line, then how it goes; the exit code to return."""
        print(f"{self.prog}: {message}\n\n{self.format_usage()}", file=sys.stderr, end="")
        return EXIT_USAGE

    def error(self, message: str) -> NoReturn:
        raise UsageError(_plain(message))

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            print(message, file=sys.stderr, end="")
        raise _Stop(status)


def _plain(message: str) -> str:
    """argparse's words, as the project's commands say them."""
    if match := re.fullmatch(r"argument (\S+?)(?:/\S+)?: expected one argument", message):
        return f"{match[1]} needs a value"
    if match := re.fullmatch(r"unrecognized arguments: (\S+).*", message):
        first = match[1]
        return f"unknown flag {first!r}" if first.startswith("-") else f"unexpected argument {first!r}"
    if match := re.fullmatch(r"argument ([^:]+): (.*)", message, re.DOTALL):
        return f"{match[1].split('/')[0]}: {match[2]}"
    return message
