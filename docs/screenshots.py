"""Take the README's screenshots from a running portal (`make run` in another terminal).

    .venv/bin/python docs/screenshots.py [--url http://127.0.0.1:8050] [--home var] [--asset ID]

Logs in with the first demo login (an admin) from var/demo_logins.json, in Debian's headless
Chromium; types a reading into the modal but never saves it. It does send one cost summary (of
the first meter in the grid, to the demo's own .example addresses) from the "Email summary…"
form, so the Emails page has a message to show; asking again sends nothing new. The asset page
is the one of ``--asset``, by default the asset at the top of the Overview's "Assets by concern".
On the plant catalogue it opens that asset's form, then starts a new generic asset (a constant
and two formulas typed in) without saving it: the catalogue is left as it was.
"""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

OUT = Path(__file__).resolve().parent / "screenshots"
ASSET_FIGURES = ("asset-stacked", "asset-single", "asset-calculations", "asset-pair", "asset-dual",
                 "asset-forecast", "asset-batch-graph")
# Every trace of the graph has points and plotly has drawn its SVG.
DRAWN_JS = """
const g = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
return !!(g && g._fullData && g._fullData.length && g.querySelector('.main-svg')
          && g._fullData.every(t => (t.x || []).length > 0));"""


def browser(width: int = 1280, height: int = 900) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    # The asset page draws long series with WebGL, which headless Chromium only draws in software
    # (SwiftShader) when asked to.
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--enable-unsafe-swiftshader",
                 f"--window-size={width},{height}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def demo_login(home: str) -> dict[str, str]:
    """The first demo login (an admin) that `make run` wrote into the data home."""
    return json.loads((Path(home) / "demo_logins.json").read_text())[0]


def sign_in(driver: webdriver.Chrome, url: str, login: dict[str, str]) -> None:
    driver.get(f"{url}/login")
    driver.find_element(By.ID, "email").send_keys(login["email"])
    driver.find_element(By.ID, "password").send_keys(login["password"])
    driver.find_element(By.ID, "login-submit").click()
    WebDriverWait(driver, 60).until(lambda d: "/login" not in d.current_url)


def full_page(driver: webdriver.Chrome, url: str, path: Path, graphs: tuple[str, ...]) -> None:
    """The page at ``url`` whole, however long, once ``graphs`` are drawn.

    Captured beyond the window rather than by making the window taller: resizing makes the
    responsive graphs lay themselves out again. A capture beyond the window drops the scroll
    bar, which would widen the page: the page is drawn without one from the start.
    """
    no_scroll_bar = driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {
        "source": "document.documentElement.style.scrollbarWidth = 'none';"})
    try:
        driver.get(url)
        for graph in graphs:
            WebDriverWait(driver, 20).until(lambda d, graph=graph: d.execute_script(DRAWN_JS, graph))
        width, height = driver.execute_script("return [window.innerWidth, document.documentElement.scrollHeight]")
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        })
        path.write_bytes(base64.b64decode(shot["data"]))
    finally:
        driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": no_scroll_bar["identifier"]})


def email_key(component: str) -> tuple[str, str]:
    """The meters page's "Email summary" form: pattern-matching ids, as Dash writes them."""
    key = json.dumps({"type": component, "where": "page"}, separators=(",", ":"))
    return By.CSS_SELECTOR, f"[id='{key}']"


def catalogue(driver: webdriver.Chrome, url: str, asset_id: str) -> None:
    """The plant catalogue with an asset's form open (its type's parameters), then a new generic
    asset's form filled in but not saved."""
    wait = WebDriverWait(driver, 20)
    driver.get(f"{url}/admin/catalogue?asset={asset_id}")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#cat-tree table")))
    wait.until(ec.text_to_be_present_in_element((By.ID, "cat-asset-title"), "Asset"))
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#cat-asset-parameters input")))
    driver.save_screenshot(str(OUT / "catalogue.png"))

    add = driver.find_elements(By.XPATH, "//*[@id='cat-tree']//button[normalize-space()='+ Asset']")[0]
    driver.execute_script("arguments[0].click();", add)
    wait.until(ec.text_to_be_present_in_element((By.ID, "cat-asset-title"), "New asset"))
    driver.find_element(By.ID, "cat-asset-name").send_keys("Canal pump P3")
    constant = wait.until(ec.presence_of_all_elements_located((By.CSS_SELECTOR, "#cat-asset-parameters input")))
    constant[0].send_keys("efficiency")
    constant[1].send_keys("0.72")
    for name, unit, formula in (("power_kw", "kW", "flow_m3h * dp_bar * 100 / 3.6 / efficiency"),
                                ("energy_kwh", "kWh", "integrate(power_kw) / 3600")):
        before = len(driver.find_elements(By.CSS_SELECTOR, "#cat-formulas input"))
        driver.execute_script("arguments[0].click();", driver.find_element(By.ID, "cat-formula-add"))
        wait.until(lambda d, n=before: len(d.find_elements(By.CSS_SELECTOR, "#cat-formulas input")) == n + 3)
        fields = driver.find_elements(By.CSS_SELECTOR, "#cat-formulas input")[-3:]
        for field, text in zip(fields, (name, unit, formula), strict=True):
            field.send_keys(text)
    # The editor scrolls within itself: bring its formulas into view.
    driver.execute_script("document.getElementById('cat-formulas').scrollIntoView({block: 'center'});")
    driver.save_screenshot(str(OUT / "catalogue-new-asset.png"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8050")
    parser.add_argument("--home", default="var")
    parser.add_argument("--asset", type=int, help="the asset page to show (default: the Overview's first)")
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
        first_asset = driver.find_element(By.CSS_SELECTOR, "#estate-sites table a[href^='/assets/']")
        asset_path = f"/assets/{args.asset}" if args.asset else first_asset.get_attribute("pathname")

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

        driver.get(f"{args.url}/meters")
        # The meter's own cell (pinned left): a click further right scrolls the grid sideways.
        wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".ag-pinned-left-cols-container .ag-row"))).click()
        toggle = driver.find_element(*email_key("email-summary-toggle"))
        wait.until(lambda d: toggle.is_enabled())
        toggle.click()
        send = wait.until(ec.visibility_of_element_located(email_key("email-summary-send")))
        driver.save_screenshot(str(OUT / "email-form.png"))
        send.click()
        wait.until(lambda d: d.find_element(*email_key("email-summary-result")).text)

        opened = driver.find_element(By.ID, "meters-open-page")  # "Costs and history" of that meter
        wait.until(lambda d: opened.get_attribute("href"))
        opened.click()
        wait.until(lambda d: d.execute_script(DRAWN_JS, "meter-chart"))
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#meter-table table")))
        driver.save_screenshot(str(OUT / "meter.png"))

        driver.get(f"{args.url}/emails")
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#emails-table table")))
        driver.save_screenshot(str(OUT / "emails.png"))

        full_page(driver, args.url + asset_path, OUT / "asset.png", ASSET_FIGURES)

        driver.get(f"{args.url}/models")
        wait.until(lambda d: "v1" in d.find_element(By.ID, "models-versions").text)
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#models-chart .main-svg")))
        driver.save_screenshot(str(OUT / "models.png"))

        driver.get(f"{args.url}/admin")
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#admin-users table")))
        driver.save_screenshot(str(OUT / "admin.png"))

        catalogue(driver, args.url, asset_path.rsplit("/", 1)[1])
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
