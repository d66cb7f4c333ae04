"""The live operator page in a real browser (headless Chromium) against a running controller.

A real OCPP charger draws 11 kW; the page must show it against the limit, follow a cap set
through the API at once (server-sent events), and let an operator set and cancel a cap.
Every request the page makes goes to the controller: nothing from a CDN or font host.
"""

from __future__ import annotations

import re

import pytest

from tests.controller.api.browser import browser_tab, screenshot
from tests.controller.api.harness import TOKENS, auth, charging_session, serving

expect = pytest.importorskip(
    "playwright.async_api", reason="the playwright Python package is not installed"
).expect
OPERATOR, VIEWER = auth("operator"), auth("viewer")


async def _login(tab, port: int, role: str) -> None:
    page = tab.page
    await page.goto(f"http://127.0.0.1:{port}/")
    await page.fill("#token", TOKENS[role][1])
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#conn")).to_have_text("live")


async def test_page_shows_power_and_limit_and_follows_a_cap(tmp_path):
    async with (
        serving(tmp_path, history={"sample_s": 0.5}) as api,
        charging_session(api, "CP001", power_w=11040),
        browser_tab(f"http://127.0.0.1:{api.port}") as tab,
    ):
        page = tab.page
        await page.goto(f"http://127.0.0.1:{api.port}/")
        # No token yet: the page asks for one and shows no data.
        await expect(page.locator("#login")).to_be_visible()
        await expect(page.locator("#main")).to_be_hidden()
        await _login(tab, api.port, "viewer")
        await expect(page.locator("#measured")).to_have_text("11.0 kW")
        await expect(page.locator("#limit")).to_have_text("100.0 kW")
        await expect(page.locator("#limit-src")).to_have_text("grid connection")
        await expect(page.locator("#headroom")).to_have_text("89.0 kW")
        await expect(page.locator("#chargers tr[data-charger=CP001] td").nth(1)).to_have_text(
            "online"
        )
        session_row = page.locator("#sessions tbody tr").first
        await expect(session_row.locator("td").nth(1)).to_have_text("CP001/1")
        await expect(page.locator("#chart canvas")).to_have_count(1)
        span_h = "(page.chart.scales.x.max - page.chart.scales.x.min) / 3600"
        assert await page.evaluate(span_h) >= 24  # the last 24 h and the plan ahead
        await page.click("#range button[data-hours='6']")
        assert await page.evaluate(span_h) == pytest.approx(12)  # 6 h back, 6 h ahead
        await page.click("#range button[data-hours='24']")
        await expect(page.locator("#who")).to_have_text("vera (viewer)")
        await expect(page.locator("#operator")).to_be_hidden()

        made = await api.client.post(
            "/caps", json={"kind": "permanent", "limit_kw": 60}, headers=OPERATOR
        )
        assert made.status_code == 201, made.text
        cap_id = made.json()["id"]
        # Pushed by the event stream: no reload, no polling.
        await expect(page.locator("#limit")).to_have_text("60.0 kW")
        await expect(page.locator("#limit-src")).to_contain_text(f"operator cap {cap_id}")
        await expect(page.locator(f"#caps tr[data-cap={cap_id}]")).to_have_attribute(
            "data-status", "active"
        )

        wide = await screenshot(tab, tmp_path / "page-1400.png", 1400)
        narrow = await screenshot(tab, tmp_path / "page-400.png", 400)
        assert wide.stat().st_size > 10_000 and narrow.stat().st_size > 5_000
        # The narrow page scrolls tables inside their boxes, not the whole page sideways.
        body_width = await page.evaluate("document.documentElement.scrollWidth")
        assert body_width <= 400, body_width

        assert tab.requests, "the page made no request"
        assert tab.foreign_requests() == []
        assert tab.errors == []


async def test_operator_sets_and_cancels_a_cap_from_the_page(tmp_path):
    async with (
        serving(tmp_path) as api,
        charging_session(api, "CP001", power_w=11040) as (_cp, tx),
        browser_tab(f"http://127.0.0.1:{api.port}") as tab,
    ):
        page = tab.page
        await _login(tab, api.port, "operator")
        await expect(page.locator("#operator")).to_be_visible()
        await expect(page.locator("#limit")).to_have_text("100.0 kW")

        await page.fill("#cap-kw", "45")
        await page.click("#cap-form button[type=submit]")
        await expect(page.locator("#op-msg")).to_contain_text("set: 45.0 kW")
        await expect(page.locator("#limit")).to_have_text("45.0 kW")
        caps = [e for e in api.ctl.limits.entries.values() if e.kind == "permanent"]
        assert [(e.spec["limit_kw"], e.cancelled_utc) for e in caps] == [(45.0, None)]
        cap_id = caps[0].entry_id

        # Through the same API, with the same validation: a cap above the grid is refused.
        await page.fill("#cap-kw", "500")
        await page.click("#cap-form button[type=submit]")
        await expect(page.locator("#op-msg")).to_have_class("error")
        await expect(page.locator("#op-msg")).to_contain_text(re.compile("grid", re.I))

        await page.locator(f"#caps tr[data-cap={cap_id}] button").click()
        await expect(page.locator("#limit")).to_have_text("100.0 kW")
        await expect(page.locator(f"#caps tr[data-cap={cap_id}]")).to_have_attribute(
            "data-status", "cancelled"
        )
        assert api.ctl.limits.entries[cap_id].cancelled_utc is not None
        audit = await api.audit(target=cap_id)
        assert {(row["action"], row["actor"]) for row in audit} == {
            ("permanent.create", "olga"),
            ("permanent.cancel", "olga"),
        }

        # Override what the session needs, then re-plan: the same API, audited.
        row = page.locator(f"#sessions tr[data-tx='{tx}']")
        await row.locator("input[placeholder=kWh]").fill("20")
        await row.locator("input[placeholder=h]").fill("3")
        await row.locator("button").click()
        await expect(page.locator("#op-msg")).to_contain_text(f"session {tx} updated")
        overrides = api.ctl.site.sessions[tx].overrides
        assert set(overrides) == {"energy_kwh", "departure_utc", "need_source"}
        assert overrides["need_source"] == "operator"
        assert overrides["energy_kwh"] == 20.0
        await expect(row.locator("td").nth(5)).to_contain_text("(operator)")
        await page.click("#replan")
        await expect(page.locator("#op-msg")).to_contain_text("re-plan requested (manual:olga")
        actions = {row["action"] for row in await api.audit(actor="olga")}
        assert {"session.overrides", "replan"} <= actions
        assert tab.foreign_requests() == []


async def test_anonymous_read_only_page_when_the_site_allows_it(tmp_path):
    async with (
        serving(tmp_path, api={"anonymous_read": True}) as api,
        charging_session(api, "CP002", power_w=7360),
        browser_tab(f"http://127.0.0.1:{api.port}") as tab,
    ):
        page = tab.page
        await page.goto(f"http://127.0.0.1:{api.port}/")
        await expect(page.locator("#measured")).to_have_text("7.4 kW")
        await expect(page.locator("#who")).to_have_text("anonymous (read only)")
        await expect(page.locator("#operator")).to_be_hidden()
        assert tab.foreign_requests() == []


async def test_docs_work_offline(tmp_path):
    async with serving(tmp_path) as api, browser_tab(f"http://127.0.0.1:{api.port}") as tab:
        page = tab.page
        await page.goto(f"http://127.0.0.1:{api.port}/docs")
        await expect(page.locator(".swagger-ui .info .title")).to_contain_text("sitecharge")
        await expect(page.locator(".opblock-summary-path", has_text="/caps").first).to_be_visible()
        assert tab.foreign_requests() == []
        assert tab.errors == []
