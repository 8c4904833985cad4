"""A real headless Chromium (Debian's ``chromium``) driven by Playwright's Python API.

Playwright's own browser downloads are not used: the system browser is launched directly. Tests
skip, never fail, when Playwright or Chromium is missing (``make test`` installs both).
Screenshots go to ``build/test-artifacts/`` at the repository's root (kept after the run).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path is not None:
            return path
    pytest.skip("chromium is not installed (make test installs Debian's chromium)")


@contextmanager
def chromium_page() -> Iterator[Any]:
    """A fresh page in a fresh profile; the browser is closed (and its profile removed) after."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra has it)")
    executable = chromium_path()
    with tempfile.TemporaryDirectory(prefix="hg-chromium-") as profile, sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=executable, args=ARGS, headless=True, timeout=30_000
        )
        try:
            context.set_default_timeout(15_000)
            yield context.new_page()
        finally:
            context.close()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path
