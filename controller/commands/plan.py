"""``sitecharge plan problem.json``: run the optimizer on a Problem file and write the Plan."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import optimizer
from optimizer.errors import InvalidProblem
from optimizer.problem import problem_from_json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plan",
        help="plan power per EV per slot for a problem file",
        description="Read a Problem (JSON, see optimizer/problem.py), plan, write the Plan.",
    )
    p.add_argument("problem", type=Path, help="problem JSON file")
    p.add_argument("--method", default="optimal", choices=optimizer.METHODS)
    p.add_argument("--backend", default="highs", choices=optimizer.BACKENDS)
    p.add_argument("--time-limit-s", type=float, default=10.0, help="default 10")
    p.add_argument("--no-min-power", action="store_true", help="drop the 0-or-minimum power rule")
    p.add_argument("--out", type=Path, help="write the plan JSON here (default: stdout)")
    p.add_argument("--plot", type=Path, help="write a PNG of the plan here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        text = args.problem.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"sitecharge plan: cannot read {args.problem}: {exc}", file=sys.stderr)
        return 2
    try:
        problem = problem_from_json(text)
    except InvalidProblem as exc:
        print(f"sitecharge plan: {args.problem}: {exc}", file=sys.stderr)
        return 2
    plan = optimizer.plan(
        problem,
        method=args.method,
        time_limit_s=args.time_limit_s,
        min_power=not args.no_min_power,
        backend=args.backend,
    )
    out = optimizer.plan_to_json(plan)
    if args.out:
        args.out.write_text(out + "\n", encoding="utf-8")
    else:
        print(out)
    summary = (
        f"method={plan.method} status={plan.status} "
        f"delivered={plan.objective.get('delivered_kwh', 0):.2f} kWh "
        f"shortfall={plan.objective.get('shortfall_kwh', 0):.2f} kWh "
        f"cost={plan.objective.get('energy_cost', 0):.2f} "
        f"demand_charge={plan.objective.get('demand_charge', 0):.2f} "
        f"total_s={plan.total_s:.3f}"
    )
    print(summary, file=sys.stderr)
    if plan.reason:
        print(f"reason: {plan.reason}", file=sys.stderr)
    for v in plan.violations:
        print(f"violation: {v}", file=sys.stderr)
    if args.plot:
        from controller.plots.plan_plot import plot_plan

        plot_plan(problem, plan, args.plot)
    return 0
