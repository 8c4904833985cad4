"""A bearer token file is read as one line, stripped, and a bad one is refused without showing it,
on the UNKNOWN line and in --json (issue #13: kubelet events, Consul and Nagios store that line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from healthgauge._check._command import main
from healthgauge.testing import MetricsServer

SECRET = "s3cret-token-0123456789"


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (f"{SECRET}\nsecond-line-{SECRET}\n", "holds more than one line"),
        (f"{SECRET}\0tail\n", "spaces or control characters"),
        (f"{SECRET} {SECRET}\n", "spaces or control characters"),
    ],
)
@pytest.mark.parametrize("json", [False, True])
def test_a_bad_token_file_is_refused_without_showing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, why: str, json: bool
) -> None:
    token = tmp_path / "token"
    token.write_text(content)
    with MetricsServer(b"up 1\n") as server:
        code = main([server.url, "up == 1", "--bearer-token-file", str(token), *(["--json"] if json else [])])
        assert server.requests == []
    out = capsys.readouterr()
    assert code == 3
    assert why in out.out
    assert SECRET not in out.out + out.err


def test_a_token_file_is_one_line_stripped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token = tmp_path / "token"
    token.write_text(f"  {SECRET}  \r\n\n")
    with MetricsServer(b"up 1\n") as server:
        assert main([server.url, "up == 1", "--bearer-token-file", str(token)]) == 0
    [request] = server.requests
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    capsys.readouterr()
