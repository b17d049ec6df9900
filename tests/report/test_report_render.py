"""The report opens in a real browser with no network, no script error and every chart drawn."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from .chromium import find_chromium, load_page
from .conftest import Harvested

CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary on PATH (Debian: apt-get install chromium; .ci/run installs it)"
)


@needs_chromium
def test_the_report_renders_offline_without_console_errors(harvested: Harvested) -> None:
    assert CHROMIUM is not None
    load = anyio.run(load_page, CHROMIUM, harvested.html)
    assert load.console == []
    assert load.requests == []
    assert load.svgs == harvested.summary.charts > 8
    assert load.height > 2000


@needs_chromium
def test_the_checker_sees_requests_and_console_errors(tmp_path: Path) -> None:
    """The render test could not pass by not looking: a page that fetches and logs is caught."""
    assert CHROMIUM is not None
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/x.png">'
                    '<script>console.error("boom")</script></body></html>')
    load = anyio.run(load_page, CHROMIUM, page)
    assert "http://127.0.0.1:9/x.png" in load.requests
    assert any("boom" in line for line in load.console)
