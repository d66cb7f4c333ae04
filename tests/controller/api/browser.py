"""Headless Chromium (Debian's package) driven by Playwright, for the operator page's tests.

Skips, with the reason, where the browser or the Python client is missing; CI installs both.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = os.environ.get("SITECHARGE_CHROMIUM") or shutil.which("chromium") or ""


@dataclass
class Tab:
    """One browser page, with every request it made and every error it logged."""

    page: object
    origin: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def foreign_requests(self) -> list[str]:
        """Requests to anything but the controller (scheme, host and port)."""
        return [url for url in self.requests if _origin(url) != self.origin]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@contextlib.asynccontextmanager
async def browser_tab(base_url: str, *, width: int = 1400, height: int = 900):
    if not CHROMIUM:
        pytest.skip("no chromium on this machine (apt-get install chromium); page tests skipped")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("the playwright Python package is not installed; page tests skipped")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            context = await browser.new_context(viewport={"width": width, "height": height})
            page = await context.new_page()
            page.set_default_timeout(15_000)
            tab = Tab(page, _origin(base_url))
            page.on("request", lambda request: tab.requests.append(request.url))
            page.on("console", lambda msg: msg.type == "error" and tab.errors.append(msg.text))
            page.on("pageerror", lambda error: tab.errors.append(str(error)))
            yield tab
        finally:
            await browser.close()


async def screenshot(tab: Tab, path: Path, width: int) -> Path:
    """A full-page screenshot at ``width`` CSS pixels."""
    page = tab.page
    await page.set_viewport_size({"width": width, "height": 900})
    await page.wait_for_timeout(300)  # the chart follows the window's width
    await page.screenshot(path=str(path), full_page=True)
    return path
