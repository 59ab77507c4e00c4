"""Pages benchmark: what a portal user waits for, from navigation to the last figure drawn, in
headless Chromium, on the demo estate and on the plant of 10M readings.

The requirement (issue 16, "Done when"): the asset page has all its figures drawn within 2 s
(p95) of navigation, for any preset range; a range change on the open page redraws them within
1 s (p95); every other page has its main element ready within 1 s (p95). Reported with p50, p95
and max over ``--repeats`` loads after a warm-up.

Usage::

    .venv/bin/python bench/pages.py [--estate demo|10m|both] [--backend sqlite|postgresql]
                                    [--repeats 10] [--demo-home DIR] [--keep]
                                    [--days 365] [--total-readings 10000000]
                                    [--postgres-url URL] [--range-param range] [--skip PATH]

Setup (timed and printed, not a target), on the bench's own database (a SQLite file, or a
PostgreSQL database made on the server of ``--postgres-url``, whose own database is never
touched):

* **demo**: ``twin db upgrade`` and ``twin seed-demo`` (``TWIN_DEMO=1``) into a data home of
  the bench's, logged in as the first demo login (an admin). ``--demo-home`` uses a data home
  that ``twin seed-demo`` already filled instead (SQLite, its ``twin.db``).
* **10m**: the plant of ``bench/dashboard.py`` (``_support.build_plant``: a drivetrain of 3
  sensors among filler sensors, a reading a minute for ``--days`` days, ``--total-readings`` in
  all, their hourly rollups, a calculation), logged in as its viewer. ``--keep`` builds or
  reuses the very database that ``bench/dashboard.py --keep`` does
  (``twin_bench_dashboard_keep_<days>d_<total>``), so either benchmark reuses the other's.
  ``--keep`` also keeps the demo estate (``twin_bench_pages_demo_keep_seed``). A reused
  database is first brought to the product's newest migration.

The web process is :func:`app.cli.web_server` (what ``twin web`` serves: ``app.create_app``
under waitress) in a spawned child; the browser is Debian's headless Chromium driven by
Selenium (``tests.browser_support.start_chrome``, with SwiftShader so that WebGL traces draw),
one for each estate, signed in once through ``/login``.

Measured, in the page, not by Python's polling: a checker added to every document before its
scripts run (CDP ``Page.addScriptToEvaluateOnNewDocument``) evaluates every 20 ms whether the
page is ready, and records ``performance.now()`` (ms since navigation start) when it first is,
once that has held for 300 ms (so a gap between two rounds of callbacks is not taken for the
end). Ready means: Dash hydrated and no callback pending (its store's ``isLoading``; no
``._dash-loading`` nor ``._dash-loading-callback`` left), the page's content in place, every
visible ``dcc.Graph`` drawn by plotly with every trace that has points drawn with ink (a WebGL
trace's colour on the canvas, an SVG trace's lines, markers or bars: the check of
``tests/test_browser_pages.py``), and every visible ag-grid showing rows (or its "no rows"
overlay) with nothing loading. The time is the later of that moment and the last
``plotly_afterplot`` of any figure. A request of the page that fails (a callback's HTTP 500)
stops the bench rather than being timed. The table also shows what the last ready page held
(figures with data / figures, grid rows) and what the checker waited for last.

* **Each page** of ``layouts.PAGES`` (paths with ``<asset_id>`` get the estate's drivetrain,
  ``<meter_id>`` a daily-read (smart) meter): one warm-up load, then ``--repeats`` loads, each
  a fresh navigation (``driver.get``; the bundles come from the browser's cache, as for a
  returning user). On the 10M estate only the Overview, the Board and the asset page.
* **The asset page for each preset range** of its range selector (``asset-range``). If the
  page takes the preset from its address (``?range=<preset>``, probed once), each preset is
  navigated to directly. Otherwise the page opens on its default preset and the preset is
  chosen at once; its time is then the load plus the change, both measured in the page (the
  pause Python takes between them is left out).
* **A range change**: after each asset page load, the next preset is chosen on the open page
  (the ``change`` event fired in the page, which also records the start) and the time is to
  everything redrawn (a callback must have run since the choice).

The 1-minute load average before and after each estate is in the table: the machine's other
work stretches every figure here (the browser, the server and this process share its CPUs).
The table goes to stdout, progress to stderr; the last line printed is one JSON object, times
in ms (``{"demo": {"overview_p50_ms": ...}, "10m": {...}, ...}``). Everything the bench made
is dropped on exit (unless kept), after an error and on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _support import (
    PLANT_SUPPLIER,
    BenchDatabase,
    Plant,
    PortalServer,
    PostgresBenchDatabase,
    ServeTask,
    SqliteBenchDatabase,
    bench_settings,
    build_plant,
    loadavg,
    log,
    new_passwords,
    stats,
    verdict,
)
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from sqlalchemy import select

from app.db import Database

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
VIEWER = "viewer@bench-energy.test"  # the 10M plant's user (as bench/dashboard.py makes it)
REPO = Path(__file__).resolve().parent.parent
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# The browser tests' flags (tests.browser_support), plus SwiftShader: headless Chromium draws
# WebGL (the asset page's long series) in software only when asked to.
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--window-size=1280,900")
EXTRA_FLAGS = ("--enable-unsafe-swiftshader",)
WARMUP = 1
POLL_MS = 20
SETTLE_MS = 300
MIN_INK = 50  # pixels of a WebGL trace's colour on the canvas: a drawn line has hundreds
LOAD_TIMEOUT_S = 180
ASSET_TARGET_MS = 2000.0
CHANGE_TARGET_MS = 1000.0
PAGE_TARGET_MS = 1000.0
ASSET_RANGE = "asset-range"  # the range selector's id (layouts.ids.ASSET_RANGE)
TENM_PAGES = ("/", "/board")  # besides the asset page, measured on the 10M estate

# The in-page checker (see the module docstring). ``window.__twinReady.done`` is the time, in
# ms since navigation start, at which the page became ready; ``watch()`` starts over for a
# change on the open page (which must then run a callback before it counts as ready).
CHECKER_JS = r"""
(() => {
  const POLL = %(poll)d, SETTLE = %(settle)d, MIN_INK = %(min_ink)d;
  const state = {done: null, why: 'starting', waited: '', since: null, sawLoading: true, start: 0,
                 lastDraw: 0, timer: null, subscribed: false};
  window.__twinReady = state;
  // A callback that fails leaves nothing loading: count the failed requests, so that an error
  // is not timed as a page.
  state.errors = [];
  const fetched = window.fetch;
  window.fetch = function (...args) {
    return fetched.apply(this, args).then(r => {
      if (!r.ok) state.errors.push(`HTTP ${r.status} from ${new URL(r.url).pathname}`);
      return r;
    });
  };
  const inked = new WeakMap(), hooked = new WeakSet();
  const visible = e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';
  let probe = null;
  const hex = c => {
    probe = probe || document.createElement('canvas').getContext('2d');
    probe.fillStyle = '#000'; probe.fillStyle = c; return probe.fillStyle;
  };
  const points = t => Math.max(...['x', 'y', 'z', 'values', 'lat'].map(k => (t[k] || []).length));
  const shown = (gd, sel) => [...gd.querySelectorAll(sel)].some(e => {
    const b = e.getBBox(); return b.width > 0 || b.height > 0; });

  function ink(gd, colours) {
    const gl = gd.querySelector('canvas.gl-canvas-context');
    if (!gl || !gl.width || !gl.height) return false;
    const copy = document.createElement('canvas');
    copy.width = gl.width; copy.height = gl.height;
    const ctx = copy.getContext('2d');
    ctx.drawImage(gl, 0, 0);
    const px = ctx.getImageData(0, 0, copy.width, copy.height).data;
    const rgb = colours.map(c => [parseInt(c.slice(1, 3), 16), parseInt(c.slice(3, 5), 16), parseInt(c.slice(5, 7), 16)]);
    const seen = rgb.map(() => 0);
    let left = rgb.length;
    for (let i = 0; i < px.length && left; i += 4) {
      if (px[i + 3] < 128) continue;
      rgb.forEach((c, k) => {
        if (seen[k] < MIN_INK && Math.abs(px[i] - c[0]) < 24 && Math.abs(px[i + 1] - c[1]) < 24
            && Math.abs(px[i + 2] - c[2]) < 24 && ++seen[k] === MIN_INK) left--;
      });
    }
    return left === 0;
  }

  // Every trace with points drawn: as tests/test_browser_pages.py checks "drawn with data".
  function drawn(gd) {
    if (inked.get(gd) === gd._fullData) return true;
    if (!gd.querySelector('.main-svg')) return false;
    const colours = [];
    for (const t of gd._fullData.filter(t => t.visible === true)) {
      if (!points(t)) continue;
      const mode = t.mode || '', type = t.type || '';
      if (type.endsWith('gl')) {
        if (mode.includes('lines') && t.line && t.line.width > 0 && typeof t.line.color === 'string')
          colours.push(hex(t.line.color));
      } else if (type === 'bar') {
        if (!shown(gd, '.barlayer .point path')) return false;
      } else if (type === 'scatter') {
        if (mode.includes('lines') && !shown(gd, '.scatterlayer .trace path.js-line')) return false;
        if (!mode.includes('lines') && mode.includes('markers') && !shown(gd, '.scatterlayer .point')) return false;
      }
    }
    if (colours.length && !ink(gd, [...new Set(colours)])) return false;
    inked.set(gd, gd._fullData);
    return true;
  }

  function gridReady(grid) {
    const any = sel => [...grid.querySelectorAll(sel)].some(visible);
    if (any('.ag-overlay-loading-center, .ag-overlay-loading-wrapper, .ag-row-loading, .ag-skeleton-container')) return false;
    return any('.ag-overlay-no-rows-center, .ag-overlay-no-rows-wrapper') || any('.ag-center-cols-container .ag-row');
  }

  function why() {
    if (document.readyState !== 'complete') return 'document';
    const store = window.store;
    if (!store) return 'renderer';
    if (!state.subscribed) {
      state.subscribed = true;
      store.subscribe(() => { if (store.getState().isLoading) state.sawLoading = true; });
    }
    const s = store.getState();
    if (s.appLifecycle !== 'HYDRATED') return 'hydrating';
    if (s.isLoading) { state.sawLoading = true; return 'callbacks'; }
    if (document.querySelector('._dash-loading, ._dash-loading-callback, .dash-graph--pending')) return 'loading';
    const content = document.getElementById('_pages_content');
    if (content && !content.children.length) return 'page content';
    for (const g of document.querySelectorAll('.dash-graph')) {
      if (!visible(g)) continue;
      const gd = g.querySelector('.js-plotly-plot');
      if (!gd || !gd._fullLayout || !gd._fullData) return 'figure ' + g.id;
      if (!hooked.has(gd) && gd.on) {
        hooked.add(gd);
        gd.on('plotly_afterplot', () => { state.lastDraw = performance.now(); });
      }
      if (!drawn(gd)) return 'ink of ' + g.id;
    }
    for (const grid of document.querySelectorAll('.ag-root-wrapper'))
      if (visible(grid) && !gridReady(grid)) return 'grid rows';
    return '';
  }

  function tick() {
    const now = performance.now();
    try { state.why = why(); } catch (e) { state.why = 'error: ' + e; }
    if (state.why) state.waited = state.why;
    if (state.why || !state.sawLoading) { state.since = null; return; }
    if (state.since === null) state.since = now;
    if (now - state.since >= SETTLE) {
      state.done = Math.max(state.since, state.lastDraw);
      clearInterval(state.timer);
      state.timer = null;
    }
  }

  state.watch = () => {
    state.done = null; state.since = null; state.sawLoading = false; state.waited = '';
    state.start = performance.now(); state.lastDraw = 0;
    if (state.timer === null) state.timer = setInterval(tick, POLL);
    return state.start;
  };
  state.timer = setInterval(tick, POLL);
})();
""" % {"poll": POLL_MS, "settle": SETTLE_MS, "min_ink": MIN_INK}

# What the ready page holds: its path, figures drawn with data (any trace with points) and
# grids with rows, for the table (a page that never got its data shows here); and what the
# checker waited for last (a figure's ink, callbacks, grid rows...).
CONTENTS_JS = """
const graphs = [...document.querySelectorAll('.dash-graph .js-plotly-plot')];
const grids = [...document.querySelectorAll('.ag-root-wrapper')];
return {path: location.pathname, figures: graphs.length, waited: window.__twinReady.waited,
        with_data: graphs.filter(g => (g._fullData || []).some(t => (t.x || t.y || t.values || []).length)).length,
        grids: grids.length,
        grid_rows: grids.reduce((n, g) => n + g.querySelectorAll('.ag-center-cols-container .ag-row').length, 0)};
"""

# The native range selector's value and its presets (the placeholder and "custom" left out).
PRESETS_JS = """
const s = document.getElementById(arguments[0]);
if (!s || s.tagName !== 'SELECT') return null;
return [s.value, [...s.options].filter(o => o.value && o.value !== 'custom' && !o.disabled)
                               .map(o => [o.value, o.text])];
"""

# Choose a preset of the native range selector the way a user's choice reaches React: the value
# set, then a bubbling "change" event; the checker starts over just before.
CHOOSE_JS = """
const s = document.getElementById(arguments[0]);
const start = window.__twinReady.watch();
Object.getOwnPropertyDescriptor(HTMLSelectElement.prototype, 'value').set.call(s, arguments[1]);
s.dispatchEvent(new Event('change', {bubbles: true}));
return start;
"""


# -- the browser -----------------------------------------------------------------------------


def start_browser(profile: Path) -> WebDriver:
    """Headless Chromium (the tests' :func:`tests.browser_support.start_chrome` where it can be
    imported) with the checker added to every document."""
    try:
        from tests.browser_support import start_chrome
    except ImportError:  # a checkout without the tests: the same flags by hand
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        def start_chrome(paths: tuple[str, str], folder: Path, extra: tuple[str, ...] = ()) -> WebDriver:
            options = webdriver.ChromeOptions()
            options.binary_location = paths[0]
            for flag in (*CHROME_FLAGS, "--no-first-run", f"--user-data-dir={folder}", *extra):
                options.add_argument(flag)
            return webdriver.Chrome(service=Service(paths[1]), options=options)

    driver = start_chrome((CHROMIUM, CHROMEDRIVER), profile, extra=EXTRA_FLAGS)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CHECKER_JS})
    return driver


def sign_in(driver: WebDriver, base: str, email: str, password: str) -> None:
    """Sign in through the login form (a plain page, not a Dash one)."""
    driver.get(f"{base}/login")
    until(driver, lambda d: d.find_elements(By.ID, "login-submit"), "the login form")
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()
    until(driver, lambda d: "/login" not in d.current_url, f"signing in as {email}")


def until(driver: WebDriver, condition: Any, what: str, timeout: float = LOAD_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition(driver):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not done within {timeout:.0f} s")
        time.sleep(0.1)


def ready(driver: WebDriver, timeout: float) -> float:
    """Wait for the checker; the in-page time (ms since navigation start) it found the page
    ready. Python's polling here only decides when to look, not the time."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = driver.execute_script(
                "const r = window.__twinReady; return r && [r.done, r.why, r.errors];")
        except WebDriverException:
            last = None  # between two documents
        if last and last[2]:
            raise RuntimeError(f"{driver.current_url}: {'; '.join(sorted(set(last[2])))} "
                               "(the web process's log above says why)")
        if last and last[0] is not None:
            return float(last[0])
        time.sleep(0.05)
    raise RuntimeError(f"{driver.current_url} not ready within {timeout:.0f} s "
                       f"(waiting for: {last[1] if last else 'the page'})")


def load(driver: WebDriver, url: str, timeout: float = LOAD_TIMEOUT_S) -> tuple[float, dict[str, Any]]:
    """Navigate to ``url``; ms from navigation start to the page ready, and what it holds."""
    driver.get(url)
    done = ready(driver, timeout)
    contents = driver.execute_script(CONTENTS_JS)
    if contents["path"].startswith("/login"):
        raise RuntimeError(f"{url} sent the browser to /login: signed out?")
    return done, contents


def choose(driver: WebDriver, preset: str, timeout: float = LOAD_TIMEOUT_S) -> float:
    """Choose ``preset`` in the open asset page's range selector; ms to everything redrawn."""
    start = driver.execute_script(CHOOSE_JS, ASSET_RANGE, preset)
    done = ready(driver, timeout)
    shown = driver.execute_script(f"return document.getElementById('{ASSET_RANGE}').value")
    if shown != preset:
        raise RuntimeError(f"the range selector shows {shown!r} after choosing {preset!r}")
    return done - float(start)


# -- the pages -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    key: str  # in the figures: "overview", "board_view", ...
    label: str  # in the table: the page's title
    path: str


def portal_pages(asset_id: int, meter_id: int | None) -> tuple[list[Page], list[str]]:
    """Every registered page (``layouts.PAGES``) with its path filled in, the asset page last;
    and the paths that could not be filled (a template of an unknown kind, no meter)."""
    import layouts

    pages, skipped = [], []
    for module in layouts.PAGES:
        path = module.PATH.replace("<asset_id>", str(asset_id))
        if meter_id is not None:
            path = path.replace("<meter_id>", str(meter_id))
        if "<" in path:
            skipped.append(module.PATH)
            continue
        label = module.TITLE.split("·")[0].strip()
        pages.append(Page(re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_"), label, path))
    asset = f"/assets/{asset_id}"
    return sorted(pages, key=lambda p: p.path == asset), skipped


@dataclass
class Samples:
    """In-page times (ms) and what the last ready page held."""

    ms: list[float] = field(default_factory=list)
    contents: dict[str, Any] = field(default_factory=dict)

    def figures(self, name: str) -> dict[str, Any]:
        out = {f"{name}_{k}": v for k, v in stats([m / 1000 for m in self.ms]).items()}
        if self.contents:
            out[f"{name}_figures"] = f"{self.contents['with_data']}/{self.contents['figures']}"
            out[f"{name}_grid_rows"] = self.contents["grid_rows"]
            out[f"{name}_waited_last"] = self.contents["waited"]
        return out


def measure_pages(driver: WebDriver, base: str, pages: Sequence[Page],
                  repeats: int) -> dict[str, Samples]:
    """Each page loaded ``repeats`` times after ``WARMUP``, page after page in turns (so the
    machine's slower moments fall on every page alike)."""
    found = {page.key: Samples() for page in pages}
    for rep in range(-WARMUP, repeats):
        for page in pages:
            done, contents = load(driver, base + page.path)
            if rep >= 0:
                found[page.key].ms.append(done)
                found[page.key].contents = contents
        if rep >= 0:
            log(f"    round {rep + 1}/{repeats}: " + ", ".join(
                f"{page.key} {found[page.key].ms[-1]:.0f}" for page in pages) + " ms")
    return found


def range_presets(driver: WebDriver, base: str, asset_path: str) -> tuple[list[str], str, dict[str, str]]:
    """The range selector's presets (not "custom"), its default, and their labels."""
    load(driver, base + asset_path)
    options = driver.execute_script(PRESETS_JS, ASSET_RANGE)
    if options is None:
        raise RuntimeError(f"no native <select id={ASSET_RANGE!r}> on {asset_path}: this bench "
                           "chooses a range through it")
    default, pairs = options
    labels = dict(pairs)
    return list(labels), default, labels


def takes_range_from_address(driver: WebDriver, base: str, asset_path: str, param: str,
                             presets: Sequence[str], default: str) -> bool:
    """Whether the asset page opens on the preset in ``?<param>=``."""
    other = next(p for p in presets if p != default)
    load(driver, f"{base}{asset_path}?{param}={other}")
    return driver.execute_script(f"return document.getElementById('{ASSET_RANGE}').value") == other


@dataclass
class AssetResult:
    direct: bool
    default: str
    labels: dict[str, str]
    loads: dict[str, Samples]  # preset -> navigation to all drawn with that preset
    changes: dict[str, Samples]  # preset -> choosing it on the open page


def measure_asset(driver: WebDriver, base: str, asset_path: str, repeats: int,
                  param: str) -> AssetResult:
    presets, default, labels = range_presets(driver, base, asset_path)
    direct = takes_range_from_address(driver, base, asset_path, param, presets, default)
    log(f"    presets {presets} (default {default}); "
        + ("navigated to directly" if direct else "the page opens on its default: each preset chosen"))
    result = AssetResult(direct, default, labels, {p: Samples() for p in presets},
                         {p: Samples() for p in presets})
    for rep in range(-WARMUP, repeats):
        for i, preset in enumerate(presets):
            url = f"{base}{asset_path}" + (f"?{param}={preset}" if direct else "")
            total, contents = load(driver, url)
            if direct or preset == default:
                # A change on the open page, to the next preset.
                following = presets[(i + 1) % len(presets)]
                changed = choose(driver, following)
            else:
                following = preset
                changed = choose(driver, preset)
                total += changed
                contents = driver.execute_script(CONTENTS_JS)
            if rep >= 0:
                result.loads[preset].ms.append(total)
                result.loads[preset].contents = contents
                result.changes[following].ms.append(changed)
        if rep >= 0:
            log(f"    round {rep + 1}/{repeats}: " + ", ".join(
                f"{p} {result.loads[p].ms[-1]:.0f}" for p in presets) + " ms")
    return result


def asset_figures(result: AssetResult) -> dict[str, Any]:
    out: dict[str, Any] = {"asset_direct": result.direct, "asset_default_range": result.default,
                           "asset_range_labels": result.labels}
    for preset, samples in result.loads.items():
        out.update(samples.figures(f"asset_{preset}"))
    for preset, samples in result.changes.items():
        if samples.ms:
            out.update({f"change_to_{preset}_{k}": v for k, v in
                        stats([m / 1000 for m in samples.ms]).items()})
    pooled = [m / 1000 for s in result.changes.values() for m in s.ms]
    out.update({f"range_change_{k}": v for k, v in stats(pooled).items()})
    out["range_change_count"] = len(pooled)
    return out


# -- the estates -----------------------------------------------------------------------------


@dataclass
class Estate:
    url: str  # the database
    home: str
    email: str
    password: str
    asset_id: int
    meter_id: int | None
    setup: dict[str, Any]


def twin(home: str, url: str, *command: str) -> None:
    """A ``twin`` CLI command on this estate, in demo mode (its output to stderr)."""
    env = {**os.environ, "TWIN_HOME": home, "TWIN_DEMO": "1", "TWIN_DATABASE_URL": url}
    env.pop("TWIN_SENSORS_DATABASE_URL", None)
    subprocess.run([str(Path(sys.executable).with_name("twin")), *command], env=env, check=True,
                   stdout=sys.stderr, cwd=REPO)


def demo_ids(url: str, home: str, email: str) -> tuple[int, int | None]:
    """The login's supplier's first drivetrain and first daily-read (smart) meter."""
    from app.db.models import Asset, Meter, Site, User

    db = Database(bench_settings(url, home, secrets.token_hex(32)))
    try:
        with db.Session() as session:
            supplier = session.scalars(select(User.supplier_id).where(User.email == email)).one()
            asset = session.scalars(select(Asset.id).join(Site).where(
                Site.supplier_id == supplier, Asset.asset_type == "drivetrain").order_by(Asset.id)).first()
            meter = session.scalars(select(Meter.id).where(
                Meter.supplier_id == supplier, Meter.is_smart.is_(True)).order_by(Meter.id)).first()
    finally:
        db.engine.dispose()
    if asset is None:
        raise RuntimeError(f"the demo supplier of {email} has no drivetrain")
    return asset, meter


@contextmanager
def demo_estate(args: argparse.Namespace, tmp: Path) -> Iterator[Estate]:
    if args.demo_home:
        home = str(Path(args.demo_home).resolve())
        url = f"sqlite:///{Path(home) / 'twin.db'}"
        login = json.loads((Path(home) / "demo_logins.json").read_text(encoding="utf-8"))[0]
        log(f"demo: using {home} (twin db upgrade first: the product's migrations may be newer)")
        twin(home, url, "db", "upgrade")
        size = (Path(home) / "twin.db").stat().st_size
        yield Estate(url, home, login["email"], login["password"],
                     *demo_ids(url, home, login["email"]),
                     {"reused": True, "database_mb": round(size / 2**20, 1)})
        return
    keep_dir = Path(tempfile.gettempdir()) / "twin-bench-keep"
    bench = bench_database(args, "twin_bench_pages_demo", "seed", keep_dir if args.keep else tmp)
    home = (keep_dir if args.keep else tmp) / f"{bench.name}_home"
    try:
        marker = bench.marker() if args.keep else None
        if marker is None or not (home / "demo_logins.json").exists():
            log(f"demo ({bench.dialect}): twin db upgrade, twin seed-demo into {home}...")
            began = time.perf_counter()
            bench.create()
            home.mkdir(parents=True, exist_ok=True)
            (home / "demo_logins.json").unlink(missing_ok=True)
            twin(str(home), bench.url, "db", "upgrade")
            twin(str(home), bench.url, "seed-demo")
            marker = {"setup_s": round(time.perf_counter() - began, 1),
                      "setup_at": datetime.now(UTC).isoformat(timespec="seconds")}
            bench.mark(marker)
            reused = False
        else:
            log(f"demo: reusing {bench.name} (set up {marker['setup_at']}), twin db upgrade first")
            twin(str(home), bench.url, "db", "upgrade")
            reused = True
        login = json.loads((home / "demo_logins.json").read_text(encoding="utf-8"))[0]
        yield Estate(bench.url, str(home), login["email"], login["password"],
                     *demo_ids(bench.url, str(home), login["email"]),
                     {**marker, "reused": reused, **bench.describe()})
    finally:
        bench.close()
        if args.keep:
            log(f"kept {bench.name} and {home} (drop them with: {bench.how_to_drop()})")


@contextmanager
def tenm_estate(args: argparse.Namespace, tmp: Path) -> Iterator[Estate]:
    """The plant of bench/dashboard.py, built as it builds it (or reused with ``--keep``)."""
    from app.accounts import create_user
    from app.db.migrate import upgrade

    tag = f"{args.days}d_{args.total_readings}"
    bench = bench_database(args, "twin_bench_dashboard", tag,
                           Path(tempfile.gettempdir()) / "twin-bench-keep" if args.keep else tmp)
    home = tmp / "10m"
    home.mkdir(exist_ok=True)
    db = Database(bench_settings(bench.url, str(home), secrets.token_hex(32)))
    try:
        marker = bench.marker() if args.keep else None
        if marker is not None:
            log(f"10m ({bench.dialect}): reusing {bench.name} (set up {marker['setup']['setup_at']})")
            upgrade(db.engine)  # the product's migrations may be newer than the database
            password = new_passwords(db, [VIEWER])[VIEWER]
            reused = True
        else:
            log(f"10m ({bench.dialect}): setting up {args.total_readings:,} readings "
                "(as bench/dashboard.py does)...")
            began = time.perf_counter()
            bench.create()
            plant, timings = build_plant(db, args.days, args.total_readings)
            password = secrets.token_urlsafe(12)
            with db.Session() as session, session.begin():
                create_user(session, supplier_name=PLANT_SUPPLIER, email=VIEWER,
                            name="Viewer (bench)", password=password, role="viewer")
            # The marker bench/dashboard.py writes, so that it reuses this database too.
            marker = {"plant": asdict(plant), "days": args.days, "total_readings": args.total_readings,
                      "setup": {**timings, "setup_s": time.perf_counter() - began,
                                "setup_at": datetime.now(UTC).isoformat(timespec="seconds")}}
            bench.mark(marker)
            reused = False
        plant = Plant(**marker["plant"])
        yield Estate(bench.url, str(home), VIEWER, password, plant.asset_id, None,
                     {**marker["setup"], "reused": reused, **bench.describe()})
    finally:
        db.engine.dispose()
        bench.close()
        if args.keep:
            log(f"kept {bench.name} (drop it with: {bench.how_to_drop()})")


def bench_database(args: argparse.Namespace, prefix: str, tag: str, directory: Path) -> BenchDatabase:
    if args.backend == "postgresql":
        return PostgresBenchDatabase(args.postgres_url, prefix, tag, args.keep)
    return SqliteBenchDatabase(directory, prefix, tag, args.keep)


def measure_estate(name: str, estate: Estate, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Serve the estate, sign in a fresh browser, and time its pages and its asset page."""
    figures: dict[str, Any] = {f"setup_{k}": v for k, v in estate.setup.items()}
    asset_path = f"/assets/{estate.asset_id}"
    pages, skipped = portal_pages(estate.asset_id, estate.meter_id)
    others = [p for p in pages if p.path != asset_path
              and (name == "demo" or p.path in TENM_PAGES) and p.path not in args.skip]
    figures["skipped_paths"] = skipped if name == "demo" else []  # 10m: only three pages anyway
    figures["loadavg_before"] = loadavg()
    server = PortalServer(ServeTask(estate.url, estate.home, secrets.token_hex(32)))
    driver = None
    try:
        base = f"http://127.0.0.1:{server.port}"
        driver = start_browser(tmp / f"chrome-{name}")
        sign_in(driver, base, estate.email, estate.password)
        log(f"{name}: {len(others)} pages, {args.repeats} loads each after {WARMUP} warm-up...")
        figures["pages"] = {p.key: p.label for p in others}
        for key, samples in measure_pages(driver, base, others, args.repeats).items():
            figures.update(samples.figures(key))
        log(f"{name}: the asset page {asset_path}, each preset range and a range change...")
        figures.update(asset_figures(measure_asset(driver, base, asset_path, args.repeats,
                                                   args.range_param)))
        figures["web_peak_rss_mb"] = round(server.peak_rss_mb() or 0) or None
    finally:
        if driver is not None:
            driver.quit()
        server.stop()
    figures["loadavg_after"] = loadavg()
    return figures


# -- report ----------------------------------------------------------------------------------


def checks(name: str, f: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """(key, ok, line) for each target."""
    out = []
    presets = [k[len("asset_"):-len("_p95_ms")] for k in f
               if k.startswith("asset_") and k.endswith("_p95_ms")]
    for preset in presets:
        p95 = f[f"asset_{preset}_p95_ms"]
        how = "navigation" if f["asset_direct"] or preset == f["asset_default_range"] else \
            "navigation + choice"
        out.append((f"asset_{preset}_p95_ms", p95 <= ASSET_TARGET_MS,
                    f"asset page, range {preset}: all figures drawn p95 {p95:.0f} ms after {how} "
                    "(target <= 2000 ms)"))
    p95 = f["range_change_p95_ms"]
    out.append(("range_change_p95_ms", p95 <= CHANGE_TARGET_MS,
                f"asset page, a range change redrawn p95 {p95:.0f} ms (target <= 1000 ms)"))
    for key, label in f["pages"].items():
        p95 = f[f"{key}_p95_ms"]
        out.append((f"{key}_p95_ms", p95 <= PAGE_TARGET_MS,
                    f"{label}: ready p95 {p95:.0f} ms (target <= 1000 ms)"))
    return out


def report(results: dict[str, dict[str, Any]]) -> dict[str, str]:
    verdicts: dict[str, str] = {}
    for name, f in results.items():
        print(f"\n{name} estate ({f.get('setup_database_mb', '?')} MB database; "
              f"load average {f['loadavg_before'][0]} before, {f['loadavg_after'][0]} after)")
        print(f"{'':<40}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}{'figures':>10}{'grid rows':>11}"
              "  waited last for")

        def row(label: str, prefix: str) -> None:
            cells = "".join(f"{f[f'{prefix}_{k}']:>10.0f}" for k in ("p50_ms", "p95_ms", "max_ms"))
            print(f"{label:<40}{cells}{f.get(f'{prefix}_figures', ''):>10}"
                  f"{f.get(f'{prefix}_grid_rows', ''):>11}  {f.get(f'{prefix}_waited_last', '')}")

        for key, label in f["pages"].items():
            row(label, key)
        how = "direct" if f["asset_direct"] else "load + choice"
        for key in [k for k in f if k.startswith("asset_") and k.endswith("_p50_ms")]:
            preset = key[len("asset_"):-len("_p50_ms")]
            label = f["asset_range_labels"].get(preset, preset)
            row(f"Asset, {label} ({'load' if preset == f['asset_default_range'] else how})",
                f"asset_{preset}")
        for key in [k for k in f if k.startswith("change_to_") and k.endswith("_p50_ms")]:
            preset = key[len("change_to_"):-len("_p50_ms")]
            row(f"  range change to {f['asset_range_labels'].get(preset, preset)}",
                f"change_to_{preset}")
        row(f"  range change, all ({f['range_change_count']})", "range_change")
        if f["skipped_paths"]:
            print(f"not measured (no id to fill in): {', '.join(f['skipped_paths'])}")
        print()
        for key, ok, line in checks(name, f):
            verdicts[f"{name}_{key}"] = verdict(ok)
            print(f"{verdict(ok)}  {name}: {line}")
    return verdicts


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estate", choices=("demo", "10m", "both"), default="both")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--repeats", type=int, default=10, help="timed loads of each page")
    parser.add_argument("--skip", action="append", default=[], metavar="PATH",
                        help="a page not to time (e.g. one an older version cannot draw); repeatable")
    parser.add_argument("--demo-home", help="a data home twin seed-demo filled (SQLite), used as is")
    parser.add_argument("--days", type=int, default=365, help="10m: days of 1-minute readings")
    parser.add_argument("--total-readings", type=int, default=10_000_000,
                        help="10m: readings in the table in all (filler sensors make up the rest)")
    parser.add_argument("--postgres-url",
                        default=os.environ.get("TWIN_TEST_POSTGRES_URL") or DEFAULT_PG_URL,
                        help="a PostgreSQL server (its own database is not touched)")
    parser.add_argument("--range-param", default="range",
                        help="the query parameter probed for opening the asset page on a preset")
    parser.add_argument("--keep", action="store_true",
                        help="build or reuse the estates' databases (10m: the one bench/dashboard.py "
                             "--keep uses), and keep them")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.days < 3:
        parser.error("--repeats must be >= 1, --days >= 3")
    if args.demo_home and args.backend != "sqlite":
        parser.error("--demo-home is a SQLite data home: use it with --backend sqlite")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # A terminated run still stops its server and browser and drops its databases.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    estates = ["demo", "10m"] if args.estate == "both" else [args.estate]
    figures: dict[str, Any] = {
        "benchmark": "pages", "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "backend": args.backend, "repeats": args.repeats, "warmup": WARMUP, "cpus": os.cpu_count(),
        "python": platform.python_version(), "loadavg_start": loadavg(),
    }
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="twin-bench-pages-") as tmp:
        for name in estates:
            make = demo_estate if name == "demo" else tenm_estate
            with make(args, Path(tmp)) as estate:
                results[name] = measure_estate(name, estate, args, Path(tmp))
    figures["loadavg_end"] = loadavg()
    verdicts = report(results)
    print(f"\nload average (1, 5, 15 min): {figures['loadavg_start']} at the start, "
          f"{figures['loadavg_end']} at the end, on {figures['cpus']} CPUs")
    ok = all(v == "PASS" for v in verdicts.values())
    print(json.dumps({**figures, **results, "verdicts": verdicts, "pass": ok}, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
