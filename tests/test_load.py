"""Load: 50 logged-in clients at once save 5,000 meter readings through the served app.

The app is served as ``twin web`` serves it (waitress, ``web.threads`` threads, in its own
process) on a fresh PostgreSQL database. 25 browsers, each a real login with its CSRF token,
save through the reading modal's Dash callback; 25 devices, each with a write token, post to
the API; each on its own meter, 100 readings apiece, all at once. Four readings of each client
are sent twice, the first time with a read timeout so short that its answer is lost, as a
client that retries would. Then the database must hold exactly 5,000 new readings: none lost,
none doubled, each meter's exactly the ones sent, its cost to date their sum, one audit row
each. The run is ``bench/load.py``'s (which runs it bigger); p50 / p95 / max are printed.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from app.db import Database
from app.db.migrate import upgrade
from tests.conftest import TEST_SECRET, make_settings

# The bench scripts run as files and import their helpers from their own folder.
BENCH = Path(__file__).resolve().parent.parent / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
load = importlib.import_module("load")
support = importlib.import_module("_support")

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.mark.timeout(240)
def test_50_clients_save_5000_readings_none_lost_none_doubled(tmp_path: Path, postgres_url: str) -> None:
    plan = load.Plan(dash_clients=25, api_clients=25, readings=100, retries=4)
    db = Database(make_settings(tmp_path, database__url=postgres_url))
    try:
        upgrade(db.engine)
        estate = load.prepare(db, plan)
        server = support.PortalServer(support.ServeTask(postgres_url, str(tmp_path), TEST_SECRET,
                                                        overrides=load.SERVED))
        try:
            result = load.run(server.port, estate, plan)
        finally:
            server.stop()
        stored = load.count_stored(db, estate)
    finally:
        db.engine.dispose()
    figures = load.figures_of(result, stored, plan)
    print("\n" + load.table(figures))
    assert result.errors == [], result.errors[:10]
    assert stored.rows == plan.rows == 5000
    assert stored.doubled == 0 and stored.wrong_meters == [] and stored.cost_mismatches == []
    assert stored.audit_rows == 5000
    # The retries happened as intended: answers lost, and re-sends found the first one stored.
    assert figures["dash_retries"] == figures["api_retries"] == 25 * 4
    assert figures["dash_lost_responses"] + figures["api_lost_responses"] > 0
    assert figures["api_retry_duplicates"] > 0
    assert figures["dash_requests"] == figures["api_requests"] == 25 * 96
