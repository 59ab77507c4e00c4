"""Pages that lead nowhere, and clear words, in a real browser: the menu offers only what the
role can open, a forbidden or unknown address is a calm page inside the portal's frame, Revoke
asks in the page (no browser dialog), the email period reads in full, the Import page shows its
command as code and its sizes in words, and the Alerts page shows values and classes in words.

One small estate, one server and one browser serve the module; each test signs in as the role
it needs. Without Chromium these tests skip, unless ``TWIN_TEST_BROWSER=1`` says they must run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec

from app.api_tokens import create_token
from app.db import Database
from app.db.base import utcnow
from app.db.migrate import upgrade
from app.db.models import Alert
from layouts import ids
from settings import Settings
from tests.browser_support import log_in, serving, start_chrome, wait
from tests.conftest import Tenant, add_meter, add_plant, add_tenant, make_settings

pytestmark = pytest.mark.browser
pytest_plugins = ["tests.browser_fixtures"]  # chrome_paths

TOKEN = "Site A gateway"


@dataclass(frozen=True)
class Estate:
    settings: Settings
    db: Database
    tenant: Tenant


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    home = tmp_path_factory.mktemp("navigation")
    settings = make_settings(home)
    db = Database(settings)
    upgrade(db.engine)
    tenant = add_tenant(db, "Alpha Energy")
    now = utcnow()
    add_meter(db, tenant.supplier_id, serial="E-ALPHA-1", previous=(now - timedelta(days=2), "1000"))
    plant = add_plant(db, ["power"], supplier_id=tenant.supplier_id, name="Alpha Farm")
    with db.Session() as session, session.begin():
        create_token(session, supplier_id=tenant.supplier_id, actor_id=None, name=TOKEN, scope="read")
        # as the tester found it: stored with an exponent and a raw code
        session.add(Alert(asset_id=plant.asset_id, sensor_id=plant.sensor_ids[0], kind="spike",
                          severity="warning", classification="sensor_error", status="open",
                          started_at=now - timedelta(hours=2), ended_at=now - timedelta(hours=2, minutes=-3),
                          message="Power jumped to 4.04e-04 kW, far from the previous 60 readings "
                                  "(mean 0.02 kW): a faulty reading (sensor_error)"))
    yield Estate(settings, db, tenant)
    db.engine.dispose()


@pytest.fixture(scope="module")
def portal_url(estate: Estate) -> Iterator[str]:
    with serving(estate.settings) as url:
        yield url


@pytest.fixture(scope="module")
def driver(chrome_paths: tuple[str, str], portal_url: str,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """One browser for the module; it takes the server first, so it closes before the server."""
    browser = start_chrome(chrome_paths, tmp_path_factory.mktemp("chrome"))
    yield browser
    browser.quit()


def sign_in_as(driver: WebDriver, url: str, estate: Estate, role: str, path: str) -> None:
    driver.delete_all_cookies()
    log_in(driver, url, *estate.tenant.users[role], path=path)


def menu(driver: WebDriver) -> list[str]:
    links = wait(driver).until(lambda d: d.find_elements(By.CSS_SELECTOR, f"#{ids.NAV_MENU} .nav-link"))
    return [link.get_attribute("textContent").strip() for link in links]


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_a_role_without_admin_sees_no_admin_link_and_a_calm_page_at_its_address(
        portal_url: str, driver: WebDriver, estate: Estate, role: str) -> None:
    sign_in_as(driver, portal_url, estate, role, "/alerts")
    assert "Admin" not in menu(driver) and "Alerts" in menu(driver)
    driver.get(portal_url + "/admin")
    notice = wait(driver).until(ec.visibility_of_element_located((By.ID, ids.NO_ACCESS)))
    assert "You do not have access to this page" in notice.text
    assert {"Overview", "Meters"} <= {a.text for a in notice.find_elements(By.TAG_NAME, "a")}
    assert "Alerts" in menu(driver), "the page sits in the portal's frame, menu and all"
    assert not driver.find_elements(By.ID, ids.ADMIN_USERS)


def test_an_unknown_address_is_a_calm_page_in_the_portals_frame(
        portal_url: str, driver: WebDriver, estate: Estate) -> None:
    sign_in_as(driver, portal_url, estate, "viewer", "/alerts")
    for path in ("/no/such/page", "/emails/987654.eml"):  # the pages router's and Flask's 404
        driver.get(portal_url + path)
        notice = wait(driver).until(ec.visibility_of_element_located((By.ID, ids.NOT_FOUND)))
        assert "This page is not here" in notice.text, path
        assert "404 - Page not found" not in driver.find_element(By.TAG_NAME, "body").text
        assert "Meters" in menu(driver), path
    notice.find_element(By.LINK_TEXT, "Meters").click()
    wait(driver).until(lambda d: d.current_url.endswith("/meters"))


def test_revoke_asks_in_the_page_and_revokes_only_when_confirmed(
        portal_url: str, driver: WebDriver, estate: Estate) -> None:
    sign_in_as(driver, portal_url, estate, "admin", "/admin")
    assert "Admin" in menu(driver)
    revoke = wait(driver).until(ec.element_to_be_clickable(
        (By.XPATH, f"//div[@id='{ids.ADMIN_TOKENS}']//tr[td[text()='{TOKEN}']]//button[text()='Revoke']")))
    revoke.click()
    modal = wait(driver).until(ec.visibility_of_element_located((By.ID, ids.ADMIN_REVOKE_MODAL)))
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # no browser dialog
    assert TOKEN in modal.text and "stops working" in modal.text
    driver.find_element(By.ID, ids.ADMIN_REVOKE_CANCEL).click()
    wait(driver).until(ec.invisibility_of_element_located((By.ID, ids.ADMIN_REVOKE_MODAL)))
    assert "Active" in driver.find_element(By.ID, ids.ADMIN_TOKENS).text
    revoke.click()
    wait(driver).until(ec.element_to_be_clickable((By.ID, ids.ADMIN_REVOKE_CONFIRM))).click()
    wait(driver).until(lambda d: "no longer works" in d.find_element(By.ID, ids.ADMIN_TOKEN_RESULT).text)
    wait(driver).until(lambda d: "Revoked" in d.find_element(By.ID, ids.ADMIN_TOKENS).text)


def test_the_import_page_shows_its_command_as_code_and_sizes_in_words(
        portal_url: str, driver: WebDriver, estate: Estate, tmp_path) -> None:  # type: ignore[no-untyped-def]
    sign_in_as(driver, portal_url, estate, "admin", "/admin/import")
    limit = wait(driver).until(lambda d: d.find_element(By.ID, "import-upload-limit")
                               if "here" in d.find_element(By.ID, "import-upload-limit").text else None)
    assert "`" not in limit.text
    assert [c.text for c in limit.find_elements(By.TAG_NAME, "code")] == [
        "twin import sensors FILE.csv", "twin import meters FILE.csv"]
    small = tmp_path / "small.csv"
    small.write_text("Asset,Tag,Time,Reading\nAlpha Farm,power,2026-11-20 09:00,0.02\n", encoding="utf-8")
    driver.find_element(By.CSS_SELECTOR, "#import-upload input[type=file]").send_keys(str(small))
    note = wait(driver).until(lambda d: d.find_element(By.ID, "import-file-note").text or None)
    assert f"small.csv · {small.stat().st_size} bytes · 4 columns" in note, note


def test_the_email_period_reads_in_full_in_the_reading_dialog(
        portal_url: str, driver: WebDriver, estate: Estate) -> None:
    sign_in_as(driver, portal_url, estate, "operator", "/meters")
    wait(driver).until(ec.element_to_be_clickable((By.XPATH, "//div[@role='row'][.//*[text()='E-ALPHA-1']]"))).click()
    enter = driver.find_element(By.ID, ids.METERS_ENTER)
    wait(driver).until(lambda d: enter.is_enabled())
    enter.click()
    modal = wait(driver).until(ec.visibility_of_element_located((By.ID, ids.READING_MODAL)))
    modal.find_element(By.XPATH, ".//button[contains(text(), 'Email summary')]").click()
    select = wait(driver).until(ec.visibility_of_element_located(
        (By.CSS_SELECTOR, f"#{ids.READING_MODAL} select")))
    wait(driver).until(lambda d: select.size["width"] > 0)
    needed, room = driver.execute_script(
        "const s = arguments[0], cs = getComputedStyle(s);"
        "const c = document.createElement('canvas').getContext('2d'); c.font = cs.font;"
        "const longest = Math.max(...[...s.options].map(o => c.measureText(o.text).width));"
        "return [longest, s.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight)];",
        select)
    assert needed <= room, f"'This month so far' needs {needed:.0f}px, the dropdown gives it {room:.0f}px"


def test_the_alerts_page_tells_values_and_classes_in_words(
        portal_url: str, driver: WebDriver, estate: Estate) -> None:
    sign_in_as(driver, portal_url, estate, "viewer", "/alerts")
    table = wait(driver).until(lambda d: d.find_element(By.ID, ids.ALERTS_TABLE)
                               if "Power jumped" in d.find_element(By.ID, ids.ALERTS_TABLE).text else None)
    text = table.text
    assert "Power jumped to 0.404 W" in text
    assert "sensor fault" in text and "sensor_error" not in text and "e-04" not in text
