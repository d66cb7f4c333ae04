"""The demo's report: plots an operator would forward to a colleague, in one HTML file."""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np

from controller.config import SiteConfig
from controller.demo.figures import COLUMNS, StrategyFigures, delivered_by_session
from controller.replay import ReplayResult
from tariffs.registry import build_tariff

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


def _steps(points: list[tuple[datetime, float]], end_utc: datetime, zone: ZoneInfo):
    """A step function as x (local, naive: matplotlib's axis) and y, closed at ``end_utc``."""
    x = [at.astimezone(zone).replace(tzinfo=None) for at, _ in points]
    y = [v for _, v in points]
    return [*x, end_utc.astimezone(zone).replace(tzinfo=None)], [*y, y[-1]]


def price_curve(
    config: SiteConfig, start_utc: datetime, end_utc: datetime
) -> tuple[list[datetime], list[float]]:
    """The site tariff's price per quarter hour over a run, for the price panel."""
    tariff = build_tariff(config.tariff, timezone=config.site.timezone, base_dir=config.base_dir)
    n = int((end_utc - start_utc).total_seconds() // 900)
    series = tariff.prices(start_utc, 900, n)
    times = [start_utc + timedelta(minutes=15 * i) for i in range(n)]
    return times, [float(v) for v in series.prices_per_kwh]


def power_plot(
    results: dict[str, ReplayResult],
    prices: tuple[list[datetime], list[float]],
    timezone: str,
    windows: list[tuple[datetime, datetime, str]],
) -> bytes:
    """One panel per strategy (site power, the limit, what went over it, the DR event and the
    cap labelled), and the price in its own panel underneath."""
    zone = ZoneInfo(timezone)
    fig, axes = plt.subplots(
        len(results) + 1,
        1,
        figsize=(11, 2.5 * len(results) + 2),
        sharex=True,
        gridspec_kw={"height_ratios": [3] * len(results) + [2]},
    )
    top = max(max(v for _, v in r.site_power_kw + r.limit_kw) for r in results.values())
    for ax, (name, result) in zip(axes, results.items(), strict=False):
        colour = COLOURS.get(name, "grey")
        px, py = _steps(result.site_power_kw, result.end_utc, zone)
        lx, ly = _steps(result.limit_kw, result.end_utc, zone)
        ax.fill_between(px, py, step="post", color=colour, alpha=0.3)
        ax.step(px, py, where="post", color=colour, lw=1.2, label=f"{name}: site power")
        ax.step(lx, ly, where="post", color="black", lw=1.6, ls="--", label="limit")
        grid = np.array(sorted(set(px) | set(lx)), dtype="datetime64[s]")
        p_at = np.asarray(py)[
            np.searchsorted(np.array(px, dtype="datetime64[s]"), grid, "right") - 1
        ]
        l_at = np.asarray(ly)[
            np.searchsorted(np.array(lx, dtype="datetime64[s]"), grid, "right") - 1
        ]
        over = p_at > l_at + 0.01
        if over.any():
            ax.fill_between(
                grid.astype(object), l_at, p_at, where=over, step="post", color="red",
                alpha=0.6, label="over the limit",
            )  # fmt: skip
        for n, (start, end, label) in enumerate(windows):
            x0 = start.astimezone(zone).replace(tzinfo=None)
            x1 = end.astimezone(zone).replace(tzinfo=None)
            ax.axvspan(x0, x1, color="#f1c40f", alpha=0.15)
            # staggered: windows close together keep their labels apart
            ax.text(x0, top * (1.36 - 0.1 * (n % 2)), label, fontsize=7, va="top")
        ax.set_ylabel("kW")
        # room above the curves for the legend, so it never hides the limit line
        ax.set_ylim(0, top * 1.4 + 1)
        ax.legend(loc="upper right", fontsize=8, ncol=3)
        ax.grid(alpha=0.3)
    price_ax = axes[-1]
    times, values = prices
    price_ax.step(
        [t.astimezone(zone).replace(tzinfo=None) for t in times],
        values,
        where="post",
        color="#2c3e50",
    )
    price_ax.set_ylabel("€/kWh")
    price_ax.set_title("energy price (the site's day-ahead tariff)", fontsize=9)
    price_ax.grid(alpha=0.3)
    price_ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    price_ax.set_xlabel(f"local time ({timezone})")
    fig.suptitle("Site power against its limit, per strategy", fontsize=12)
    return _png(fig)


def energy_plot(results: dict[str, ReplayResult]) -> bytes:
    """Per car: the energy it wanted and what each strategy delivered."""
    names = list(results)
    sessions = list(next(iter(results.values())).sessions)
    labels = [f"{s['charger_id']}" for s in sessions]
    fig, ax = plt.subplots(figsize=(11, 3.8))
    x = np.arange(len(sessions))
    width = 0.8 / max(1, len(names))
    wanted = [s["energy_wanted_kwh"] for s in sessions]
    ax.bar(x, wanted, 0.9, color="#dddddd", label="wanted")
    for i, name in enumerate(names):
        delivered = delivered_by_session(results[name])
        values = [delivered.get((s["charger_id"], s["arrival"]), 0.0) for s in sessions]
        ax.bar(
            x - 0.4 + width * (i + 0.5), values, width, color=COLOURS.get(name, "grey"), label=name
        )
    ax.set_xticks(x, labels, rotation=90, fontsize=7)
    ax.set_ylabel("kWh")
    ax.legend(fontsize=8, ncol=len(names) + 1)
    ax.grid(alpha=0.3, axis="y")
    ax.set_title("Energy wanted (grey) and delivered, per car", fontsize=11)
    return _png(fig)


def html_report(
    *,
    title: str,
    conclusion: str,
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
td:first-child,th:first-child{{text-align:left}}img{{max-width:100%}}
.lead{{font-size:1.15em;background:#eef5fb;padding:.8em 1em;border-left:4px solid #1f77b4}}
</style></head>
<body><h1>{html.escape(title)}</h1><p class="lead">{html.escape(conclusion)}</p>
<p>{html.escape(settings_text)}</p>
<table><tr>{head}</tr>{body}</table><ul>{note_items}</ul>{pictures}</body></html>
"""
