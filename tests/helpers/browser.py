"""The real-browser tests' shared set-up: Debian's Chromium and Playwright, or a skip naming what is missing."""

from __future__ import annotations

import shutil
from typing import Any

import pytest


def chromium_or_skip() -> tuple[str, Any]:
    """(path of the chromium binary, playwright's sync_playwright); pytest.skip with the reason otherwise."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it with apt-get where it can)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright (the dev extra) is not installed")
    return browser, sync_playwright
