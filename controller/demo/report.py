"""The demo's report: plots an operator would forward to a colleague, in one HTML file."""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np

from controller.demo.figures import COLUMNS, DayCurves, StrategyFigures, site_power_per_minute
from simulator.record import SiteRecord

COLOURS = {
    "uncontrolled": "#c0392b",
    "equal_share": "#e67e22",
    "edf": "#8e44ad",
    "sitecharge": "#1f77b4",
}


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def power_plot(
    records: dict[str, SiteRecord],
    curves: DayCurves,
    timezone: str,
    shaded: list[tuple[datetime, datetime, str]],
) -> bytes:
    zone = ZoneInfo(timezone)
    local = [t.astimezone(zone).replace(tzinfo=None) for t in curves.minutes_utc]
    fig, axes = plt.subplots(
        len(records) + 1, 1, figsize=(11, 2.3 * (len(records) + 1)), sharex=True
    )
    for ax, (name, record) in zip(axes, records.items(), strict=False):
        power = site_power_per_minute(record, curves.minutes_utc)
        ax.fill_between(local, power, step="post", color=COLOURS.get(name, "grey"), alpha=0.35)
        ax.plot(
            local,
            power,
            drawstyle="steps-post",
            color=COLOURS.get(name, "grey"),
            lw=1.2,
            label=f"{name}: site power",
        )
        ax.plot(
            local,
            curves.limit_kw,
            drawstyle="steps-post",
            color="black",
            lw=1.4,
            ls="--",
            label="limit",
        )
        over = power > curves.limit_kw + 0.1
        if over.any():
            ax.fill_between(
                local,
                curves.limit_kw,
                power,
                where=over,
                step="post",
                color="red",
                alpha=0.5,
                label="over the limit",
            )
        for start, end, _label in shaded:
            ax.axvspan(
                start.astimezone(zone).replace(tzinfo=None),
                end.astimezone(zone).replace(tzinfo=None),
                color="grey",
                alpha=0.12,
            )
        ax.set_ylabel("kW")
        ax.set_ylim(0, max(float(power.max()), float(curves.limit_kw.max())) * 1.1 + 1)
        ax.legend(loc="upper left", fontsize=8, ncol=3)
        ax.grid(alpha=0.3)
    price_ax = axes[-1]
    price_ax.plot(local, curves.price_per_kwh, drawstyle="steps-post", color="#2c3e50")
    price_ax.set_ylabel("€/kWh")
    price_ax.set_title(
        "energy price (day-ahead + demo shape); shaded: demand-response event and operator cap",
        fontsize=9,
    )
    price_ax.grid(alpha=0.3)
    price_ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    price_ax.set_xlabel(f"local time ({timezone})")
    fig.suptitle("Site power against its limit, per strategy", fontsize=12)
    return _png(fig)


def soc_plot(record: SiteRecord, timezone: str) -> bytes:
    zone = ZoneInfo(timezone)
    fig, ax = plt.subplots(figsize=(11, 3.6))
    for key in sorted(record.sessions):
        series = record.session_series(key)
        if not len(series["t_s"]):
            continue
        times = [
            (
                record.start_utc.astimezone(zone).replace(tzinfo=None)
                + np.timedelta64(int(t), "s").astype(object)
            )
            for t in series["t_s"]
        ]
        ax.plot(times, 100 * series["soc"], lw=1, alpha=0.8)
    ax.set_ylabel("state of charge %")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    ax.set_title("sitecharge run: state of charge of every car while plugged in", fontsize=11)
    return _png(fig)


def html_report(
    *,
    title: str,
    settings_text: str,
    rows: list[StrategyFigures],
    images: dict[str, bytes],
    notes: list[str],
) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in COLUMNS)
    body = ""
    for row in rows:
        data = row.as_dict()
        cells = ""
        for key, _ in COLUMNS:
            value = data[key]
            if key == "sessions_served":
                value = f"{row.sessions_served}/{row.sessions}"
            cells += f"<td>{'–' if value is None else html.escape(str(value))}</td>"
        body += f"<tr>{cells}</tr>"
    pictures = "".join(
        f'<h2>{html.escape(name)}</h2><img alt="{html.escape(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode()}">'
        for name, png in images.items()
    )
    note_items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1150px;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
td:first-child,th:first-child{{text-align:left}}img{{max-width:100%}}</style></head>
<body><h1>{html.escape(title)}</h1><p>{html.escape(settings_text)}</p>
<table><tr>{head}</tr>{body}</table><ul>{note_items}</ul>{pictures}</body></html>
"""
