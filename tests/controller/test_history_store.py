"""History queries on both backends: times in and out as aware UTC, windows half-open."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from controller.history import closed_session_rows, history_rows, prune_history
from controller.store import Store, site_history

T0 = datetime(2027, 3, 28, 0, 30, tzinfo=UTC)  # the night Europe switches to summer time


def test_history_and_closed_sessions_on_each_backend(store_url):
    store = Store(store_url)
    try:
        rows = [
            {
                "at_utc": T0 + timedelta(minutes=m),
                "measured_kw": float(m),
                "ev_kw": float(m),
                "limit_kw": 100.0,
                "limit_source": "grid",
                "planned_kw": None,
                "price_per_kwh": 0.3,
            }
            for m in range(0, 180, 1)
        ]
        store.insert_many(site_history, rows)
        got = history_rows(store, T0 + timedelta(minutes=60), T0 + timedelta(minutes=70), limit=100)
        assert [r["measured_kw"] for r in got] == [float(m) for m in range(60, 70)]
        assert all(r["at_utc"].tzinfo is not None for r in got)
        assert history_rows(store, T0, T0 + timedelta(hours=3), limit=5)[-1]["measured_kw"] == 4.0
        assert prune_history(store, T0 + timedelta(minutes=100)) == 100
        assert history_rows(store, T0, T0 + timedelta(hours=3), limit=1)[0]["measured_kw"] == 100.0

        for i, stop in enumerate((T0 + timedelta(hours=1), T0 + timedelta(hours=2), None)):
            tx = store.start_session(
                charger_id=f"CP{i}",
                connector_id=1,
                id_tag="T",
                start_utc=T0,
                meter_start_wh=0.0,
                energy_kwh=0.0,
            )
            if stop is not None:
                store.update_session(tx, stop_utc=stop, meter_stop_wh=5000.0, energy_kwh=5.0)
        closed = closed_session_rows(store, T0, T0 + timedelta(days=1), limit=10, offset=0)
        assert [(r["charger_id"], r["energy_kwh"]) for r in closed] == [("CP0", 5.0), ("CP1", 5.0)]
        window = (T0 + timedelta(hours=1), T0 + timedelta(hours=2))  # [from, to)
        assert [
            r["charger_id"] for r in closed_session_rows(store, *window, limit=10, offset=0)
        ] == ["CP0"]
        page2 = closed_session_rows(store, T0, T0 + timedelta(days=1), limit=1, offset=1)
        assert [r["charger_id"] for r in page2] == ["CP1"]
    finally:
        store.close()
