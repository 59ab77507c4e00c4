"""Take docs/screenshots/whatif.png from a running demo portal.

    TWIN_HOME=/tmp/demo TWIN_DEMO=1 .venv/bin/twin db upgrade && ... twin seed-demo
    TWIN_HOME=/tmp/demo TWIN_DEMO=1 .venv/bin/twin web --port 8064 &
    .venv/bin/python docs/screenshot_whatif.py --url http://127.0.0.1:8064 --home /tmp/demo

Logs in with the first demo login, chooses three scenarios of the first dispenser, edits the
third (its name, users and setpoint: what Run compares is what the page shows), runs them over
a day (simulated in the request, no worker needed) and captures the whole page.
"""

from __future__ import annotations

import argparse
import base64
import time
from pathlib import Path

from screenshots import browser, demo_login, sign_in  # docs/screenshots.py: the same set-up
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

OUT = Path(__file__).resolve().parent / "screenshots" / "whatif.png"
WIDTH = 1280
COUNT = 3  # scenarios compared


def field(name: str, scenario: int) -> tuple[str, str]:
    return By.CSS_SELECTOR, f"""[id='{{"field":"{name}","scenario":{scenario},"type":"whatif-field"}}']"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8050")
    parser.add_argument("--home", default="var")
    args = parser.parse_args()
    login = demo_login(args.home)
    driver = browser(WIDTH, 900)
    wait = WebDriverWait(driver, 60)
    try:
        sign_in(driver, args.url, login)
        driver.get(f"{args.url}/whatif")
        wait.until(lambda d: d.find_element(*field("name", 3)).get_attribute("value"))
        Select(driver.find_element(By.ID, "whatif-count")).select_by_value(str(COUNT))
        wait.until(ec.visibility_of_element_located(field("name", COUNT - 1)))
        for name, text in (("name", "Busy and cooler"), ("users", "12"), ("setpoint_c", "55")):
            box = driver.find_element(*field(name, COUNT - 1))
            box.clear()
            box.send_keys(text)
        driver.find_element(By.ID, "whatif-run").click()
        wait.until(ec.visibility_of_element_located((By.ID, "whatif-kpis-table")))
        wait.until(lambda d: d.execute_script(
            "return [...document.querySelectorAll('#whatif-energy .barlayer .point path')].length") == COUNT)
        wait.until(lambda d: d.execute_script(
            "return document.querySelectorAll('#whatif-temperature .scatterlayer .trace path.js-line').length")
            == COUNT)
        # The whole page: a window taller than it, then the page's own height cut from that.
        driver.set_window_size(WIDTH, 2600)
        time.sleep(2)  # the plots redraw for the new size
        bottom = driver.execute_script("return Math.ceil(document.body.getBoundingClientRect().bottom)")
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "clip": {"x": 0, "y": 0, "width": WIDTH, "height": bottom + 16, "scale": 1}})
        OUT.write_bytes(base64.b64decode(shot["data"]))
        print(f"wrote {OUT}")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
