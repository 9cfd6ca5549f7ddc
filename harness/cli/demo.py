"""`orderflow demo`: start the stack, place real orders in every style, say what happened.

Each scenario checks its own outcome, so the demo doubles as a smoke test: it exits 1 if any
order did not end as the business rules say it must.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness.cli import bench, up
from harness.cli.options import add_data_dir
from harness.clients import styles
from harness.stack.ports import PortInUse
from harness.stack.supervisor import Stack, StartupFailed
from services.kernel.config import ConfigError, Settings

HELP = "start the stack, place real orders in every style, show what happened"
DESCRIPTION = """\
Starts the four services (like `orderflow up --reset`, data in DATA_DIR, default
.orderflow/demo), places real orders over REST and prints each outcome with its saga log:
a confirmed order and its idempotent retry, a declined card (stock given back), an out-of-stock
order (nothing charged), and bad input (a 4xx problem, nothing moved). Then it places the same
order in each of the five styles (REST, gRPC, GraphQL, WebSocket, and the broker at
ORDERFLOW_BROKER_URL) and shows the path each took. Then it runs a short benchmark of the five
styles (3 s each after a 2 s no-op calibration, results under DATA_DIR/bench) and prints the
side-by-side table; --no-bench skips it. Then it stops the stack.

With --no-start it places the same orders against a stack that is already up (`orderflow up`),
so you can go on exploring it afterwards. Exit code 0 if every outcome is as expected."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_dir(parser, "databases and logs (default: .orderflow/demo)")
    parser.add_argument(
        "--no-start", action="store_true", help="use the stack that `orderflow up` is running"
    )
    parser.add_argument("--no-bench", action="store_true", help="skip the short benchmark")


def run(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"orderflow demo: configuration error: {error}")
        return 2
    data_dir = args.data_dir or settings.data_dir / "demo"
    if args.no_start:
        return _place_and_bench(settings, data_dir, args.no_bench)
    stack = Stack(up.stack_config(settings, data_dir, None))
    try:
        print(f"Starting the stack (data and logs in {data_dir}) ...")
        stack.start(reset=True)
        return _place_and_bench(settings, data_dir, args.no_bench)
    except (PortInUse, StartupFailed) as error:
        print(f"orderflow demo: {error}")
        return 2
    finally:
        stack.stop()
        print("Stack stopped.")


def _place_and_bench(settings: Settings, data_dir: Path, no_bench: bool) -> int:
    code = _place_orders(settings)
    if code != 0 or no_bench:
        return code
    print("\n6. A short benchmark of the five styles, side by side (`orderflow bench` runs longer)")
    return bench.short_run(settings, data_dir / "bench")


@dataclass
class Demo:
    settings: Settings
    order_url: str
    inventory_url: str
    payment_url: str
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30.0))
    failures: list[str] = field(default_factory=list)

    def expect(self, what: str, ok: bool) -> None:
        print(f"   {'ok ' if ok else 'FAIL'} {what}")
        if not ok:
            self.failures.append(what)

    def place(self, items: dict[str, int], token: str, key: str) -> httpx.Response:
        body = {
            "customer_id": "demo-customer",
            "items": [{"sku": sku, "quantity": qty} for sku, qty in items.items()],
            "payment_token": token,
        }
        return self.http.post(
            f"{self.order_url}/orders", json=body, headers={"Idempotency-Key": key}
        )

    def available(self, sku: str) -> int:
        return int(self.http.get(f"{self.inventory_url}/products/{sku}").json()["available"])

    def charge_status(self, order_id: str) -> str:
        answer = self.http.get(f"{self.payment_url}/charges/{order_id}")
        return str(answer.json()["status"]) if answer.status_code == 200 else "none"

    def show(self, title: str, answer: httpx.Response) -> dict[str, Any]:
        body: dict[str, Any] = answer.json()
        order: dict[str, Any] = body.get("order", body)
        print(f"\n{title}")
        print(f"   POST /orders -> {answer.status_code} {_outcome(body)}")
        if "id" in order:
            steps = self.http.get(f"{self.order_url}/orders/{order['id']}/saga").json()["steps"]
            print("   saga: " + " -> ".join(f"{s['step']} {s['outcome']}" for s in steps))
        return order


def _place_orders(settings: Settings) -> int:
    url = {name: settings.address(name).http_url for name in ("order", "inventory", "payment")}
    demo = Demo(settings, url["order"], url["inventory"], url["payment"])
    run_id = uuid.uuid4().hex[:8]
    for scenario in SCENARIOS:
        scenario(demo, run_id)
    print()
    if demo.failures:
        print(f"{len(demo.failures)} outcome(s) were not as expected: {demo.failures}")
        return 1
    print("Every outcome was as expected.")
    return 0


def confirmed(demo: Demo, run_id: str) -> None:
    key = f"demo-{run_id}-confirmed"
    answer = demo.place({"KB-MECH": 1, "MOUSE-WL": 2}, "tok_visa", key)
    order = demo.show("1. A confirmed order: keyboard + 2 mice, card tok_visa", answer)
    demo.expect(
        "status CONFIRMED, total 149.97 from catalog prices",
        _is(order, "CONFIRMED") and order["total_cents"] == 8999 + 2 * 2999,
    )
    retry = demo.place({"KB-MECH": 1, "MOUSE-WL": 2}, "tok_visa", key)
    demo.expect(
        "a retry with the same Idempotency-Key returns the same order",
        retry.json()["id"] == order["id"],
    )
    demo.expect("the card was charged once", demo.charge_status(order["id"]) == "CHARGED")


def declined(demo: Demo, run_id: str) -> None:
    before = demo.available("HEADSET")
    answer = demo.place({"HEADSET": 3}, "tok_chargeDeclined", f"demo-{run_id}-declined")
    order = demo.show("2. A declined card: 3 headsets, card tok_chargeDeclined", answer)
    demo.expect(
        "status CANCELLED, reason PAYMENT_DECLINED", _is(order, "CANCELLED", "PAYMENT_DECLINED")
    )
    demo.expect(f"stock released: HEADSET back to {before}", demo.available("HEADSET") == before)


def out_of_stock(demo: Demo, run_id: str) -> None:
    answer = demo.place({"MUG-RETIRED": 1}, "tok_visa", f"demo-{run_id}-sold-out")
    order = demo.show("3. Out of stock: a retired mug (0 in stock)", answer)
    demo.expect("status REJECTED, reason OUT_OF_STOCK", _is(order, "REJECTED", "OUT_OF_STOCK"))
    demo.expect("payment was never asked", demo.charge_status(order["id"]) == "none")


def bad_input(demo: Demo, run_id: str) -> None:
    before = demo.available("KB-MECH")
    answer = demo.place({"KB-MECH": 0}, "tok_visa", f"demo-{run_id}-bad")
    print("\n4. Bad input: a quantity of 0")
    print(f"   POST /orders -> {answer.status_code} {answer.json().get('detail')}")
    demo.expect(
        "422 problem+json, nothing reserved",
        answer.status_code == 422 and demo.available("KB-MECH") == before,
    )


def every_style(demo: Demo, run_id: str) -> None:
    """The same order through each of the five styles: same rules, same outcome, different
    paths (the saga log shows the orchestrated steps, or the events of the choreography)."""
    print("\n5. The same order in every style: a monitor, card tok_visa")
    for style, place in styles.PLACERS.items():
        try:
            placed = place(demo.settings, styles.new_request("MON-27", 1))
        except Exception as error:  # a style that cannot be reached is reported, not hidden
            demo.expect(f"{style}: placed ({type(error).__name__}: {error})", False)
            continue
        log = demo.http.get(f"{demo.order_url}/orders/{placed.order_id}/saga").json()
        path = " -> ".join(f"{s['step']} {s['outcome']}" for s in log["steps"])
        print(
            f"   {style:>9}: {placed.status}, total {(placed.total_cents or 0) / 100:.2f}  [{path}]"
        )
        demo.expect(
            f"{style}: CONFIRMED at the catalog price, recorded as placed in {style}",
            placed.status == "CONFIRMED" and placed.total_cents == 24999 and log["style"] == style,
        )


SCENARIOS: tuple[Callable[[Demo, str], None], ...] = (
    confirmed,
    declined,
    out_of_stock,
    bad_input,
    every_style,
)


def _is(order: dict[str, Any], status: str, reason: str | None = None) -> bool:
    return order.get("status") == status and order.get("reason") == reason


def _outcome(body: dict[str, Any]) -> str:
    order = body.get("order", body)
    if "status" not in order:
        return str(body.get("code", ""))
    total = order.get("total_cents")
    money = f", total {total / 100:.2f}" if total is not None else ""
    reason = f" ({order['reason']})" if order.get("reason") else ""
    return f"{order['status']}{reason}{money}, order {order['id']}"
