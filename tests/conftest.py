"""Suite-wide: quiet structlog (warnings and up), so failures are readable."""

from __future__ import annotations

import pytest

from harvester.logs import configure_logging


@pytest.fixture(autouse=True, scope="session")
def _quiet_logs() -> None:
    configure_logging(json=True, level="warning")
