"""Take the README's screenshots from a running portal (`make run` in another terminal).

    .venv/bin/python docs/screenshots.py [--url http://127.0.0.1:8050]

Logs in with the first demo login (an admin) from var/demo_logins.json, in Debian's headless
Chromium; types a reading into the modal but never saves it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

OUT = Path(__file__).resolve().parent / "screenshots"


def browser(width: int = 1280, height: int = 900) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--window-size={width},{height}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8050")
    parser.add_argument("--home", default="var")
    args = parser.parse_args()
    login = json.loads((Path(args.home) / "demo_logins.json").read_text())[0]
    OUT.mkdir(exist_ok=True)
    driver = browser()
    try:
        driver.get(f"{args.url}/login")
        driver.save_screenshot(str(OUT / "login.png"))
        driver.find_element(By.ID, "email").send_keys(login["email"])
        driver.find_element(By.ID, "password").send_keys(login["password"])
        driver.find_element(By.ID, "login-submit").click()
        wait = WebDriverWait(driver, 20)
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#estate-sites table")))
        driver.save_screenshot(str(OUT / "overview.png"))

        driver.get(f"{args.url}/board")
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#board-sites .main-svg")))
        driver.save_screenshot(str(OUT / "board.png"))

        driver.get(f"{args.url}/meters")
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".ag-center-cols-container .ag-row")))
        wait.until(ec.presence_of_element_located((By.ID, "supplier-total")))
        driver.save_screenshot(str(OUT / "meters.png"))
        driver.find_elements(By.CSS_SELECTOR, ".ag-center-cols-container .ag-row")[0].click()
        enter = driver.find_element(By.ID, "meters-enter-reading")
        wait.until(lambda d: enter.is_enabled())
        enter.click()
        wait.until(ec.visibility_of_element_located((By.ID, "reading-value")))
        details = driver.find_element(By.ID, "reading-details").text
        previous = details.split("Previous reading")[1].split()[0].replace(",", "")
        typed = f"{float(previous) + 12:.0f}"
        driver.find_element(By.ID, "reading-value").send_keys(typed)
        wait.until(lambda d: "Period total" in d.find_element(By.ID, "reading-preview").text)
        driver.save_screenshot(str(OUT / "reading-modal.png"))

        driver.get(f"{args.url}/models")
        wait.until(lambda d: "v1" in d.find_element(By.ID, "models-versions").text)
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#models-chart .main-svg")))
        driver.save_screenshot(str(OUT / "models.png"))

        driver.get(f"{args.url}/admin")
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#admin-users table")))
        driver.save_screenshot(str(OUT / "admin.png"))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
