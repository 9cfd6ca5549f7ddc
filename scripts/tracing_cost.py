"""What tracing costs: `orderflow bench` with tracing off and on, interleaved, as ratios.

Each round runs the same bench once per arm (untraced, then `--traces RATIO` for each ratio
asked for), the arms' order turned round every other round (ABBA) so that a machine getting
busier or quieter favours no arm. Each traced run is compared with the untraced run of its own
round; the table gives, per style and ratio, the median over the rounds of traced / untraced
for orders/s, p99 of a completed order and CPU-ms per completed order (services and Locust), and
the machine's load average while it ran (docs/bench.md, "What tracing costs").

    .venv/bin/python scripts/tracing_cost.py --rounds 3 --ratios 0.1,1 --out runs/tracing-cost
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

UNTRACED = "off"
FIGURES = (("orders/s", "orders_per_s"), ("p99", "order_p99_ms"), ("CPU-ms/order", "cpu"))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    arms = [UNTRACED, *args.ratios.split(",")]
    loads: list[float] = []
    runs: dict[tuple[int, str], Path] = {}
    for round_ in range(args.rounds):
        for arm in arms if round_ % 2 == 0 else arms[::-1]:
            loads.append(os.getloadavg()[0])
            runs[round_, arm] = _bench(args, arm, args.out / f"round{round_ + 1}-{arm}")
    loads.append(os.getloadavg()[0])
    print(_table(runs, args.rounds, arms[1:], args.styles.split(",")))
    print(f"\nload average (1 min) before each run and at the end: {_loads(loads)}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ratios", default="0.1", help="traced arms, comma-separated")
    parser.add_argument("--styles", default="rest,grpc,graphql,websocket,broker")
    parser.add_argument("--users", default="10")
    parser.add_argument("--duration", default="20s")
    parser.add_argument("--out", type=Path, required=True)
    return parser


def _bench(args: argparse.Namespace, arm: str, out: Path) -> Path:
    command = [
        sys.executable, "-m", "harness.cli", "bench", "--styles", args.styles,
        "--users", args.users, "--duration", args.duration, "--no-calibration", "--out", str(out),
    ]  # fmt: skip
    if arm != UNTRACED:
        command += ["--traces", arm]
    print(f"$ {' '.join(command[2:])}", flush=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the bench failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return out / "results.json"


def _figure(results: Path, style: str, key: str) -> float:
    result: dict[str, Any] = json.loads(results.read_text())["styles"][style]
    if key == "cpu":
        return float(result["cpu"]["total_ms"])
    return float(result["summary"][key])


def _table(
    runs: dict[tuple[int, str], Path], rounds: int, ratios: list[str], styles: list[str]
) -> str:
    lines = [
        "| traced | style | " + " | ".join(name for name, _ in FIGURES) + " |",
        "|---|---|" + "---|" * len(FIGURES),
    ]
    for ratio in ratios:
        for style in styles:
            cells = [_cell(runs, rounds, ratio, style, key) for _, key in FIGURES]
            lines.append(f"| {ratio} | {style} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(runs: dict[tuple[int, str], Path], rounds: int, ratio: str, style: str, key: str) -> str:
    """The median ratio over the rounds, and each round's, traced / untraced."""
    each = [
        _figure(runs[r, ratio], style, key) / _figure(runs[r, UNTRACED], style, key)
        for r in range(rounds)
    ]
    return f"x{statistics.median(each):.2f} ({', '.join(f'{x:.2f}' for x in each)})"


def _loads(loads: list[float]) -> str:
    return ", ".join(f"{load:.1f}" for load in loads)


if __name__ == "__main__":
    sys.exit(main())
