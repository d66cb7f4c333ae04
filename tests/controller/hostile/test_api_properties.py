"""Property test of the API's bodies: whatever a client sends, the answer is never a 5xx.

Hypothesis runs on a thread with a blocking client, so the API keeps being served by the
controller's own event loop meanwhile. Derandomized: the same examples every run.
"""

from __future__ import annotations

import asyncio
import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.controller.api.harness import auth, charging_session, serving

SPECIAL = st.sampled_from(
    [
        "9999-12-31T23:59:59-12:00",
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00+14:00",
        "2026-12-01T10:00:00Z",
        "2027-01-01T00:00:00+01:00",
        "P9999Y",
        "P999999999D",
        "PT2H",
        "-PT1H",
        "17:00",
        "25:99",
        "Europe/Berlin",
        "Mars/Olympus",
        "mon",
        "permanent",
        "window",
        "recurring",
        0,
        -1,
        1e308,
        2**63,
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    SPECIAL,
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=6)
BASES = {
    "/caps": {
        "kind": "window",
        "limit_kw": 50,
        "start": "2026-12-01T10:00:00Z",
        "end": "2027-01-01T00:00:00Z",
    },
    "/dr/events": {"start": "2026-12-01T10:00:00Z", "duration": "PT2H", "limit_kw": 30},
    "overrides": {"departure": "2027-01-01T00:00:00Z", "energy_kwh": 20},
}
OTHER_FIELDS = [
    "start_local",
    "end_local",
    "weekdays",
    "timezone",
    "note",
    "end",
    "id",
    "reduction_kw",
    "reduction_pct",
    "ramp_s",
    "priority",
    "extra",
]


def bodies(base: dict) -> st.SearchStrategy[dict]:
    """A valid body with a few fields replaced by hostile values, added or left out."""
    names = [*base, *OTHER_FIELDS]
    changes = st.dictionaries(st.sampled_from(names), VALUES, max_size=3)
    one_special = st.dictionaries(st.sampled_from(list(base)), SPECIAL, max_size=1)
    dropped = st.sets(st.sampled_from(list(base)), max_size=2)
    return st.tuples(one_special, changes, dropped).map(
        lambda t: {k: v for k, v in {**base, **t[1], **t[0]}.items() if k not in t[2]}
    )


def _explore(base_url: str, tx: int) -> list[tuple[str, int, str]]:
    """Run hypothesis against the three write endpoints; returns the 5xx seen."""
    failures: list[tuple[str, int, str]] = []
    client = httpx.Client(base_url=base_url, timeout=30)
    targets = [
        ("POST", "/caps", "operator", BASES["/caps"]),
        ("POST", "/dr/events", "utility", BASES["/dr/events"]),
        ("PUT", f"/sessions/{tx}/overrides", "operator", BASES["overrides"]),
    ]
    for method, path, role, base in targets:
        probe = _prober(client, method, path, role, base, failures)
        probe()
    client.close()
    return failures


def _prober(client, method, path, role, base, failures):
    @settings(
        max_examples=200,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(body=bodies(base))
    def probe(body):
        headers = {**auth(role), "Content-Type": "application/json"}
        answer = client.request(method, path, content=json.dumps(body), headers=headers)
        if answer.status_code >= 500:
            failures.append((path, answer.status_code, repr(body)[:200]))

    return probe


async def test_no_api_body_gives_a_5xx(tmp_path):
    api_limits = {"requests_per_s": 10_000.0, "request_burst": 100_000}
    async with serving(tmp_path, api=api_limits) as api, charging_session(api) as (_cp, tx):
        failures = await asyncio.to_thread(_explore, f"http://127.0.0.1:{api.port}", tx)
        assert failures == []
        assert (await api.client.get("/site", headers=auth("viewer"))).status_code == 200
