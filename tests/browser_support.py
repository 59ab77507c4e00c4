"""Helpers of the browser tests: Debian's headless Chromium driven by Selenium, the real app
served by a real WSGI server (waitress) on a free local port, logging in, and waiting.

The fixtures built from them are in ``tests.browser_fixtures``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from settings import Settings

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT_S = 40  # generous: a first page load fetches ~5 MB of Dash and plotly bundles, and CI machines are busy


# Every Content-Security-Policy violation of the tab, kept across page loads (sessionStorage):
# added before any page script runs, and not itself subject to the page's policy.
CSP_RECORDER = """
document.addEventListener('securitypolicyviolation', (e) => {
  const seen = JSON.parse(sessionStorage.getItem('twin-csp') || '[]');
  seen.push(`${e.violatedDirective} blocked ${e.blockedURI} ${e.sample || ''} on ${location.pathname} from ${(e.sourceFile || "").split("/").pop()}:${e.lineNumber}`);
  sessionStorage.setItem('twin-csp', JSON.stringify(seen));
});
"""


def csp_violations(driver: WebDriver) -> list[str]:
    """The violations recorded in this tab since the last call (which clears them)."""
    return driver.execute_script(
        "const v = JSON.parse(sessionStorage.getItem('twin-csp') || '[]');"
        "sessionStorage.removeItem('twin-csp'); return v;")


def start_chrome(chrome_paths: tuple[str, str], profile: Path, extra: tuple[str, ...] = ()) -> WebDriver:
    """Headless Chromium at 1280x900 with its own profile folder and ``extra`` flags, recording
    CSP violations (:func:`csp_violations`); the caller quits it."""
    options = webdriver.ChromeOptions()
    options.binary_location = chrome_paths[0]
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1280,900", f"--user-data-dir={profile}", *extra):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(chrome_paths[1]), options=options)
    driver.implicitly_wait(0)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CSP_RECORDER})
    return driver


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The real app behind waitress on a free port, for the ``with`` block; yields its base URL."""
    from waitress.server import create_server

    from app import create_app

    server = create_server(create_app(settings), host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
        thread.join(timeout=5)


@contextmanager
def signed_in(chrome_paths: tuple[str, str], profile: Path, base: str, email: str, password: str,
              path: str = "/meters") -> Iterator[WebDriver]:
    """Chromium signed in to the portal at ``base`` as ``email``, for the ``with`` block (take
    the server first: the browser then closes before it)."""
    driver = start_chrome(chrome_paths, profile)
    try:
        log_in(driver, base, email, password, path)
        yield driver
    finally:
        driver.quit()


def wait(driver: WebDriver, timeout: float = WAIT_S):  # type: ignore[no-untyped-def]
    return WebDriverWait(driver, timeout, ignored_exceptions=(WebDriverException,))


def log_in(driver: WebDriver, base: str, email: str, password: str, path: str = "/meters") -> None:
    driver.get(base + path)
    wait(driver).until(ec.presence_of_element_located((By.ID, "email"))).send_keys(email)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()
    wait(driver).until(lambda d: d.current_url.endswith(path))
