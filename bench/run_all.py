"""Run every benchmark with its default sizes, one after the other (`make bench`).

Each prints its own table. Pass --quick for small sizes (a smoke run of a few minutes).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

FULL = [
    ["optimizer.py"],
    ["ocpp_load.py"],
    ["reaction.py"],
    ["quality.py"],
]
QUICK = [
    ["optimizer.py", "--sizes", "10", "100", "--pyomo-max", "100"],
    ["ocpp_load.py", "--sizes", "100", "--window-s", "10", "--warmup-s", "3"],
    ["reaction.py", "--sizes", "200", "--debounce", "0", "--changes", "5"],
    ["quality.py", "--quick"],
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    args = parser.parse_args()
    failed = []
    for command in QUICK if args.quick else FULL:
        print(f"\n=== bench/{' '.join(command)}", flush=True)
        result = subprocess.run([sys.executable, str(HERE / command[0]), *command[1:]], check=False)
        if result.returncode != 0:
            failed.append(command[0])
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
