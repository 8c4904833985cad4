"""Exit codes are defined once (``health._status``) and each command lists its own; README's
exit-code tables say the same codes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from healthgauge import _cmd_query
from healthgauge.agent.commands import _cmd, _ctl
from healthgauge.health import _status

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def table_after(heading: str, column: str) -> dict[int, str]:
    """The first table under ``## heading`` whose header names ``column``: exit code -> that column."""
    section = README.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    for table in re.findall(r"(?:^\|.*\|\n)+", section, re.MULTILINE):
        header, _, *rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()]
        if header[0].startswith("exit") and column in header:
            where = header.index(column)
            return {int(row[0]): row[where] for row in rows}
    raise AssertionError(f"no exit-code table with a {column!r} column under {heading!r}")


@pytest.mark.parametrize(
    ("heading", "column", "codes"),
    [
        ("`healthgauge query`", "meaning", _cmd_query.EXIT_CODES),
        ("`healthgauge agent`", "`healthgauge agent`", _cmd.EXIT_CODES),
        ("`healthgauge agent`", "`healthgauge ctl`", _ctl.EXIT_CODES),
    ],
)
def test_readme_tables_say_each_commands_codes(heading: str, column: str, codes: dict[int, str]) -> None:
    table = table_after(heading, column)
    assert sorted(table) == sorted(codes)
    for code, meaning in codes.items():  # the same words, README's markup aside
        assert table[code].replace("`", "") == meaning


def test_check_exits_with_the_status_vocabulary() -> None:
    table = table_after("`healthgauge check`", "line")
    assert sorted(table) == [_status.PASS, _status.WARN, _status.FAIL, _status.UNKNOWN]
    for code, line in table.items():
        assert line.strip("`").startswith(_status.LABELS[code])


def test_every_command_uses_the_one_vocabulary() -> None:
    assert (_status.EXIT_OK, _status.EXIT_FAILED, _status.EXIT_USAGE) == (0, 2, 3)
    for codes in (_cmd_query.EXIT_CODES, _cmd.EXIT_CODES, _ctl.EXIT_CODES):
        assert set(codes) == {_status.EXIT_OK, _status.EXIT_FAILED, _status.EXIT_USAGE}
