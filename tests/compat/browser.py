"""A real browser for the dashboard tests: Debian's Chromium, driven by Playwright.

Playwright's own browser downloads are never used: the tests launch the system's
``/usr/bin/chromium`` (``.ci/run`` installs Debian's ``chromium``). Without it the tests are
skipped, saying so.
"""

from __future__ import annotations

import pathlib
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: Screenshots of each page, taken by the browser tests and shown in the README.
SCREENSHOTS = ROOT / "docs" / "dashboard"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if pathlib.Path("/usr/bin/chromium").exists() else None
    )
    if found is None:
        pytest.skip(
            "Debian's chromium is not installed (apt-get install chromium; .ci/run does): "
            "the dashboard's browser tests need a real browser"
        )
    return found


@contextmanager
def launched_chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()
