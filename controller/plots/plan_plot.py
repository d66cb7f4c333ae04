"""Plot a Plan: site power stacked per EV against the limit per slot, with the price curve."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from optimizer.problem import Plan, Problem


def plot_plan(problem: Problem, plan: Plan, path: Path) -> None:
    """Write a PNG: EV power stacked on the base load, the site limit, and the price per slot."""
    starts = problem.slot_starts_utc
    x = np.arange(problem.n_slots)
    fig, ax = plt.subplots(figsize=(11, 5))
    bottom = problem.base_load_kw.copy()
    ax.bar(x, bottom, width=1.0, align="edge", color="0.8", label="base load")
    for e, ev_id in enumerate(plan.ev_ids):
        ax.bar(x, plan.power_kw[e], bottom=bottom, width=1.0, align="edge", label=ev_id)
        bottom = bottom + plan.power_kw[e]
    ax.step(
        np.append(x, problem.n_slots),
        np.append(problem.site_limit_kw, problem.site_limit_kw[-1]),
        where="post",
        color="red",
        linewidth=2,
        label="site limit",
    )
    ax.set_xlabel(f"slot ({problem.slot_s // 60} min, from {starts[0]:%Y-%m-%d %H:%M} UTC)")
    ax.set_ylabel("power [kW]")
    ax.set_title(f"plan: {plan.method} ({plan.status})")
    price_ax = ax.twinx()
    price_ax.step(
        np.append(x, problem.n_slots),
        np.append(problem.price_per_kwh, problem.price_per_kwh[-1]),
        where="post",
        color="black",
        linestyle="--",
    )
    price_ax.set_ylabel("price [per kWh] (dashed)")
    handles, labels = ax.get_legend_handles_labels()
    if len(handles) > 12:
        handles, labels = handles[:12], [*labels[:11], "…"]
    ax.legend(handles, labels, loc="upper left", fontsize="small", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
