"""The browser tests' fixtures, a pytest plugin: a test module names it in ``pytest_plugins``
rather than importing it, so pytest registers each fixture once, by name.

``chrome_paths`` skips the test without Chromium, unless ``TWIN_TEST_BROWSER=1`` (CI sets it)
says it must run, in which case a missing browser fails it. The helpers they are built from
(``start_chrome``, ``serving``, ``wait``, ``log_in``) are in ``tests.browser_support``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from app.db import Database
from settings import Settings
from tests.browser_support import CHROMEDRIVER, CHROMIUM, serving, start_chrome


@pytest.fixture(scope="session")
def chrome_paths() -> tuple[str, str]:
    browser = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    driver = shutil.which("chromedriver") or (CHROMEDRIVER if Path(CHROMEDRIVER).exists() else None)
    if browser and driver:
        return browser, driver
    message = "Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
    if os.environ.get("TWIN_TEST_BROWSER"):
        pytest.fail(f"TWIN_TEST_BROWSER is set but {message}")
    pytest.skip(message)


@pytest.fixture
def browser(chrome_paths: tuple[str, str], tmp_path: Path) -> Iterator[WebDriver]:
    driver = start_chrome(chrome_paths, tmp_path / "chrome")
    yield driver
    driver.quit()


@pytest.fixture
def portal(settings: Settings, db: Database) -> Iterator[str]:
    """The real app behind waitress, on a free port; yields its base URL. Tests take it before
    ``browser``, so the browser closes first and no request is cut off by the server closing."""
    with serving(settings) as url:
        yield url
