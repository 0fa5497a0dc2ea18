"""pytest fixtures for tests/browser (run with Debian's /usr/bin/python3:
python3-pytest, python3-selenium; see harness.py and browser.py)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Governor  # noqa: E402


@pytest.fixture
def governor():
    """A started governor (harness.Governor); stopped and removed afterwards."""
    g = Governor()
    g.start()
    try:
        yield g
    finally:
        g.stop()
