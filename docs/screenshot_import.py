"""Take docs/screenshots/import.png from a running demo portal with a worker.

    TWIN_DEMO=1 TWIN_HOME=/tmp/imp-home .venv/bin/twin run --port 8057 &
    TWIN_HOME=/tmp/imp-home .venv/bin/python docs/screenshot_import.py --url http://127.0.0.1:8057 --home /tmp/imp-home

Logs in with the first demo login (an admin), writes a CSV of a day of readings of the first
asset's sensors named by asset and sensor (UK clock time, the night the clocks go back, and a
few lines a person would get wrong), uploads it on the import page, imports it on the workers
and captures the whole page with its report.
"""

from __future__ import annotations

import argparse
import base64
import tempfile
from pathlib import Path

import pandas as pd
from screenshots import browser, demo_login, sign_in  # docs/screenshots.py: the same set-up
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

OUT = Path(__file__).resolve().parent / "screenshots" / "import.png"
WIDTH = 1280


def sample_csv(home: str, email: str, folder: Path) -> Path:
    """A day of 10-minute readings of the admin's first asset, with six lines to refuse."""
    from app.db import Database
    from app.db.models import Asset, Sensor, Site, User
    from settings import load_settings

    database = Database(load_settings(environ={"TWIN_HOME": home, "TWIN_DEMO": "1"}))
    with database.Session() as session:
        supplier_id = session.scalar(select(User.supplier_id).where(User.email == email))
        asset = session.scalars(select(Asset).join(Site).where(Site.supplier_id == supplier_id)
                                .order_by(Asset.id)).first()
        sensors = list(session.scalars(select(Sensor.name).where(Sensor.asset_id == asset.id)
                                       .order_by(Sensor.id)))[:3]
    times = pd.date_range("2024-10-26 12:00", "2024-10-27 12:00", freq="10min", inclusive="left")
    lines = ["Asset,Sensor,Timestamp,Reading"]
    for name in sensors:
        lines += [f"{asset.name},{name},{t:%Y-%m-%d %H:%M},{50 + (i % 30) / 3:.2f}"
                  for i, t in enumerate(times) if t.hour != 1]  # 01:xx happens twice that night
    lines[5] = f"{asset.name},{sensors[0]},2024-10-27 01:30,51.2"        # ambiguous: clocks go back
    lines[12] = f"{asset.name},{sensors[0]},2024-10-26 13:50,n/a"       # not a number
    lines[40] = f"{asset.name},{sensors[1]},27/10/2024 25:00,48.0"       # no such time
    lines[77] = f"{asset.name},flow_in,2024-10-26 16:40,3.1"            # no such sensor
    lines[102] = f"Boiler 9,{sensors[1]},2024-10-26 18:50,47.7"         # no such asset
    lines[150] = f"{asset.name},{sensors[2]},2024-10-26 12:00,1,250"    # an unquoted comma
    path = folder / "historian-export.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    database.dispose()
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8050")
    parser.add_argument("--home", default="var")
    args = parser.parse_args()
    login = demo_login(args.home)
    csv_path = sample_csv(args.home, login["email"], Path(tempfile.mkdtemp()))
    driver = browser(WIDTH, 900)
    wait = WebDriverWait(driver, 90)
    try:
        sign_in(driver, args.url, login)
        driver.get(f"{args.url}/admin/import")
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#import-upload input[type=file]")))
        driver.find_element(By.CSS_SELECTOR, "#import-upload input[type=file]").send_keys(str(csv_path))
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#import-preview table")))
        button = wait.until(ec.element_to_be_clickable((By.ID, "import-run")))
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
        driver.execute_script("arguments[0].click();", button)
        # The page opened on the previous import's report: wait for this one's.
        wait.until(ec.text_to_be_present_in_element((By.ID, "import-report"), "Importing"))
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#import-report table")))
        wait.until(lambda d: d.execute_script(  # the bar's width has finished its transition
            "const bar = document.querySelector('#import-progress .progress-bar');"
            "return bar.getBoundingClientRect().width >= 0.99 * bar.parentElement.getBoundingClientRect().width;"))
        driver.execute_script("document.documentElement.style.scrollbarWidth = 'none';")
        height = driver.execute_script("return document.documentElement.scrollHeight")
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1}})
        OUT.write_bytes(base64.b64decode(shot["data"]))
        print(f"wrote {OUT}")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
