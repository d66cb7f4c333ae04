"""Who may do what (401/403 per role), and requests the API refuses without changing anything.

One controller serves the whole module: every case here leaves it as it found it, and the
module checks that too.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import pytest_asyncio

from controller.store import audit_log
from tests.controller.api.harness import auth, serving

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(tmp_path_factory):
    async with serving(tmp_path_factory.mktemp("api")) as served:
        yield served


PERMANENT = {"kind": "permanent", "limit_kw": 999.0}  # above the grid: refused after auth
DR = {"start": "2020-01-01T00:00:00Z", "duration": "PT1H", "limit_kw": 10}  # past: refused

# (method, path, role, body, expected status); writes use bodies that pass auth and then
# fail validation (422), so a 403 proves the role check runs first and nothing is written.
ACCESS = [
    ("GET", "/site", None, None, 401),
    ("GET", "/site", "bogus", None, 401),
    ("GET", "/site", "viewer", None, 200),
    ("GET", "/site", "operator", None, 200),
    ("GET", "/site", "utility", None, 200),
    ("GET", "/chargers", "viewer", None, 200),
    ("GET", "/chargers", "utility", None, 403),
    ("GET", "/sessions", "operator", None, 200),
    ("GET", "/sessions", "utility", None, 403),
    ("GET", "/plan", "utility", None, 403),
    ("GET", "/limits", "viewer", None, 200),
    ("GET", "/limits", "utility", None, 403),
    ("GET", "/audit", "viewer", None, 200),
    ("GET", "/audit", "utility", None, 403),
    ("GET", "/audit", None, None, 401),
    ("GET", "/caps", "viewer", None, 200),
    ("GET", "/caps", "utility", None, 403),
    ("GET", "/dr/events", "utility", None, 200),
    ("GET", "/dr/events", "operator", None, 200),
    ("GET", "/dr/events", "viewer", None, 200),
    ("GET", "/dr/events", None, None, 401),
    ("GET", "/metrics", "viewer", None, 200),
    ("GET", "/metrics", "operator", None, 200),
    ("GET", "/metrics", "utility", None, 403),
    ("GET", "/metrics", None, None, 401),
    ("POST", "/caps", None, PERMANENT, 401),
    ("POST", "/caps", "viewer", PERMANENT, 403),
    ("POST", "/caps", "utility", PERMANENT, 403),
    ("POST", "/caps", "operator", PERMANENT, 422),
    ("PUT", "/caps/x", "viewer", PERMANENT, 403),
    ("DELETE", "/caps/x", "utility", None, 403),
    ("DELETE", "/caps/x", "operator", None, 404),
    ("POST", "/dr/events", "operator", DR, 403),
    ("POST", "/dr/events", "viewer", DR, 403),
    ("POST", "/dr/events", "bogus", DR, 401),
    ("POST", "/dr/events", "utility", DR, 422),
    ("PUT", "/dr/events/x", "operator", DR, 403),
    ("DELETE", "/dr/events/x", "operator", None, 403),
    ("DELETE", "/dr/events/x", "utility", None, 404),
    ("PUT", "/sessions/1/overrides", "viewer", {"priority": 2}, 403),
    ("PUT", "/sessions/1/overrides", "utility", {"priority": 2}, 403),
    ("POST", "/replan", "viewer", None, 403),
    ("POST", "/replan", "utility", None, 403),
    ("POST", "/replan", None, None, 401),
]


async def _state(api):
    rows = await api.ctl.store.run(api.ctl.store.store.rows, audit_log)
    return len(rows), {k: (e.spec, e.cancelled_utc) for k, e in api.ctl.limits.entries.items()}


@pytest.mark.parametrize(("method", "path", "role", "body", "expected"), ACCESS)
async def test_roles(api, method, path, role, body, expected):
    before = await _state(api)
    answer = await api.client.request(method, path, json=body, headers=auth(role))
    assert answer.status_code == expected, answer.text
    if expected == 401:
        assert answer.headers["www-authenticate"] == "Bearer"
    if expected == 403:
        assert repr(role) in answer.json()["message"]
    if method != "GET":
        assert await _state(api) == before


@pytest.mark.parametrize("path", ["/openapi.json", "/docs"])
async def test_the_api_description_is_public(api, path):
    answer = await api.client.get(path)
    assert answer.status_code == 200
    if path == "/openapi.json":
        document = answer.json()
        assert {"/site", "/caps", "/caps/{cap_id}", "/dr/events", "/metrics", "/replan"} <= set(
            document["paths"]
        )
        assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
        cap = document["components"]["schemas"]["CapIn"]
        assert set(cap["properties"]) >= {"kind", "limit_kw", "start", "end", "weekdays"}


def _soon(hours: float, api) -> str:
    return (api.ctl.clock.now() + timedelta(hours=hours)).isoformat()


# (role, method, path, body builder, expected status, field the message must name)
INVALID = [
    (
        "operator",
        "POST",
        "/caps",
        lambda a: {"kind": "permanent", "limit_kw": 100.5},
        422,
        "limit_kw",
    ),
    ("operator", "POST", "/caps", lambda a: {"kind": "permanent", "limit_kw": -1}, 422, "limit_kw"),
    ("operator", "POST", "/caps", lambda a: {"kind": "daily", "limit_kw": 10}, 422, "kind"),
    ("operator", "POST", "/caps", lambda a: {"kind": "permanent"}, 422, "limit_kw"),
    (
        "operator",
        "POST",
        "/caps",
        lambda a: {"kind": "permanent", "limit_kw": 5, "colour": 1},
        422,
        "colour",
    ),
    (
        "operator",
        "POST",
        "/caps",
        lambda a: {"kind": "window", "limit_kw": 50, "start": _soon(2, a), "end": _soon(1, a)},
        422,
        "end",
    ),
    (
        "operator",
        "POST",
        "/caps",
        lambda a: {"kind": "window", "limit_kw": 50, "start": _soon(-3, a), "end": _soon(-2, a)},
        422,
        "end",
    ),
    (
        "operator",
        "POST",
        "/caps",
        lambda a: {
            "kind": "window",
            "limit_kw": 50,
            "start": "2030-01-01T10:00:00",
            "end": "2030-01-01T12:00:00+01:00",
        },
        422,
        "start",
    ),
    (
        "operator",
        "POST",
        "/caps",
        lambda a: {"kind": "window", "limit_kw": 50, "start": _soon(1, a)},
        422,
        "end",
    ),
    (
        "operator",
        "POST",
        "/caps",
        lambda a: {"kind": "permanent", "limit_kw": 50, "start": _soon(1, a)},
        422,
        "start",
    ),
    (
        "operator",
        "POST",
        "/caps",
        lambda a: {
            "kind": "recurring",
            "limit_kw": 60,
            "start_local": "25:00",
            "end_local": "20:00",
        },
        422,
        "start_local",
    ),
    (
        "operator",
        "POST",
        "/caps",
        lambda a: {"kind": "recurring", "limit_kw": 60, "start_local": "17:00"},
        422,
        "end_local",
    ),
    (
        "operator",
        "POST",
        "/caps",
        lambda a: {
            "kind": "recurring",
            "limit_kw": 60,
            "start_local": "17:00",
            "end_local": "17:00",
        },
        422,
        "end_local",
    ),
    (
        "operator",
        "POST",
        "/caps",
        lambda a: {
            "kind": "recurring",
            "limit_kw": 60,
            "start_local": "17:00",
            "end_local": "20:00",
            "weekdays": ["funday"],
        },
        422,
        "weekdays",
    ),
    (
        "operator",
        "POST",
        "/caps",
        lambda a: {
            "kind": "recurring",
            "limit_kw": 60,
            "start_local": "17:00",
            "end_local": "20:00",
            "timezone": "Mars/Olympus",
        },
        422,
        "timezone",
    ),
    (
        "operator",
        "PUT",
        "/caps/cap-missing",
        lambda a: {"kind": "permanent", "limit_kw": 5},
        404,
        "cap_id",
    ),
    (
        "operator",
        "PUT",
        "/sessions/4242/overrides",
        lambda a: {"priority": 2},
        422,
        "transaction_id",
    ),
    (
        "operator",
        "PUT",
        "/sessions/4242/overrides",
        lambda a: {"departure": "2030-01-01T08:00"},
        422,
        "departure",
    ),
    ("operator", "PUT", "/sessions/4242/overrides", lambda a: {"energy_kwh": 0}, 422, "energy_kwh"),
    (
        "utility",
        "POST",
        "/dr/events",
        lambda a: {"start": _soon(1, a), "duration": "PT1H", "limit_kw": 10, "reduction_pct": 5},
        422,
        "limit_kw",
    ),
    ("utility", "POST", "/dr/events", lambda a: {"start": _soon(1, a), "limit_kw": 10}, 422, "end"),
    (
        "utility",
        "POST",
        "/dr/events",
        lambda a: {"start": _soon(1, a), "end": _soon(2, a), "duration": 60, "limit_kw": 10},
        422,
        "end",
    ),
    (
        "utility",
        "POST",
        "/dr/events",
        lambda a: {"start": _soon(1, a), "duration": "PT1H", "reduction_pct": 150},
        422,
        "reduction_pct",
    ),
    (
        "utility",
        "POST",
        "/dr/events",
        lambda a: {"start": "2030-01-01T10:00:00", "duration": "PT1H", "limit_kw": 5},
        422,
        "start",
    ),
    (
        "utility",
        "POST",
        "/dr/events",
        lambda a: {"start": _soon(2, a), "end": _soon(1, a), "limit_kw": 5},
        422,
        "end",
    ),
    (
        "utility",
        "POST",
        "/dr/events",
        lambda a: {"start": _soon(1, a), "duration": "-PT1H", "limit_kw": 5},
        422,
        "duration",
    ),
    (
        "utility",
        "POST",
        "/dr/events",
        lambda a: {"id": "bad id!", "start": _soon(1, a), "duration": "PT1H", "limit_kw": 5},
        422,
        "id",
    ),
    (
        "utility",
        "PUT",
        "/dr/events/nope",
        lambda a: {"start": _soon(1, a), "duration": "PT1H", "limit_kw": 5},
        404,
        "event_id",
    ),
]


@pytest.mark.parametrize(("role", "method", "path", "body", "expected", "field"), INVALID)
async def test_invalid_requests_change_nothing(api, role, method, path, body, expected, field):
    before = await _state(api)
    answer = await api.client.request(method, path, json=body(api), headers=auth(role))
    assert answer.status_code == expected, answer.text
    message = answer.json()["message"]
    assert field in message, message
    if expected == 422:
        assert any(
            field in [str(p) for p in d["loc"]] or field in d["msg"]
            for d in answer.json()["detail"]
        )
    assert await _state(api) == before
