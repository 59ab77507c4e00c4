"""Take docs/screenshots/admin-tokens.png and api-docs.png from a running demo portal.

    TWIN_HOME=/tmp/demo TWIN_DEMO=1 .venv/bin/twin db upgrade && ... twin seed-demo
    TWIN_HOME=/tmp/demo TWIN_DEMO=1 .venv/bin/twin web --port 8061 &
    .venv/bin/python docs/screenshot_api.py --url http://127.0.0.1:8061 --home /tmp/demo

Logs in with the first demo login (an admin), makes a write token on the Administration page,
uses it once (a GET of the assets, so "Last used" is filled in), captures the token card, then
the API's docs page with the sensor batch operation opened.
"""

from __future__ import annotations

import argparse
import base64
import time
import urllib.request
from pathlib import Path

from screenshots import browser, demo_login, sign_in  # docs/screenshots.py: the same set-up
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

OUT = Path(__file__).resolve().parent / "screenshots"


def capture(driver, element, path: Path, max_height: int = 100_000) -> None:  # type: ignore[no-untyped-def]
    """One element, whole (or its top ``max_height`` pixels)."""
    driver.execute_script("arguments[0].scrollIntoView()", element)
    box = driver.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "return [r.x + window.scrollX, r.y + window.scrollY, r.width, r.height]", element)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": box[0] - 8, "y": box[1] - 8, "width": box[2] + 16,
                 "height": min(box[3] + 16, max_height),
                 "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8050")
    parser.add_argument("--home", default="var")
    args = parser.parse_args()
    driver = browser(1280, 1000)
    wait = WebDriverWait(driver, 60)
    try:
        sign_in(driver, args.url, demo_login(args.home))
        driver.get(f"{args.url}/admin")
        wait.until(ec.presence_of_element_located((By.ID, "admin-token-name")))
        driver.find_element(By.ID, "admin-token-name").send_keys("Site A gateway")
        Select(driver.find_element(By.ID, "admin-token-scope")).select_by_value("write")
        driver.find_element(By.ID, "admin-token-create").click()
        token = wait.until(ec.visibility_of_element_located((By.ID, "new-api-token"))).text
        request = urllib.request.Request(f"{args.url}/api/v1/assets?per_page=1",
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request) as response:
            assert response.status == 200
        card = driver.find_element(By.ID, "admin-tokens").find_element(By.XPATH, "ancestor::div[contains(concat(' ', @class, ' '), ' card ')][1]")
        capture(driver, card, OUT / "admin-tokens.png")

        driver.get(f"{args.url}/api/v1/docs")
        summary = wait.until(ec.element_to_be_clickable(
            (By.XPATH, "//*[contains(@class,'opblock-summary')][.//*[text()='/sensor-readings']]")))
        summary.click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock.is-open .responses-table")))
        time.sleep(0.5)  # the opening animation
        capture(driver, driver.find_element(By.CSS_SELECTOR, ".swagger-ui"), OUT / "api-docs.png",
                max_height=1700)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
