"""The words the harness shares: style names and their variants, order outcomes, audit counts and
run phases.

Styles are named once, in services/kernel/styles.py, and an order's terminal statuses in the
kernel's published order document (services/kernel/broker/catalogue.py): this module re-exports
them. Audit counts and phases are the harness's own words (keys of results.json), named here once
for the commands, the checks and the report alike.
"""

from __future__ import annotations

from typing import Final, get_args

from services.kernel import styles
from services.kernel.broker.catalogue import OrderDocument

STYLES: Final = styles.ALL
BROKER: Final = styles.BROKER

# A style measured by another client path, beside the style's own (docs/bench.md, Variants). The
# services know only styles; a variant is the load harness's: its own Locust users, its own row
# in results.json and the report, audited and bounded as the style it is a variant of. A style's
# own name is its default path: `broker` places through the asynchronous HTTP front (202, then
# the status stream), as a shop would; `broker-amqp` publishes the order.place command itself.
# `rest-sse` is REST's orchestrated saga answered 202 at once, the outcome from the stream.
VARIANT_OF: Final = {"rest-sse": styles.REST, "broker-amqp": styles.BROKER}
# Every name `orderflow bench --styles` takes, each variant after its style.
RUNNABLE: Final = tuple(
    name for style in STYLES for name in (style, *(v for v, s in VARIANT_OF.items() if s == style))
)


def style_of(name: str) -> str:
    """The style a runnable name measures (itself, for a style)."""
    return VARIANT_OF.get(name, name)


# An order's status once its saga has decided: the values the published order document allows.
TERMINAL: Final = frozenset(
    str(status) for status in get_args(OrderDocument.model_fields["status"].annotation)
)

# What the audit after a run counts, in the order the results and the report list them.
AUDIT_COUNTS: Final = (
    "lost",
    "stuck",
    "double_charges",
    "unrefunded_charges",
    "unpaid_confirmed",
    "stock_not_conserved",
    "missing_notifications",
    "duplicate_notifications",
)
# Repeats that reached the notification service were recognised, not sent again: redelivery at
# work, not a broken invariant.
NOT_INVARIANTS: Final = frozenset({"duplicate_notifications"})

# A scenario's run, split by its faults: before the first, during them, after the last.
PHASES: Final = ("before", "during", "after")


def store_name(store: str | None) -> str:
    """How commands and reports name a stack's store (`--store sqlite|postgres`); SQLite when
    unknown, as for runs made before the option existed."""
    return "PostgreSQL" if store == "postgres" else "SQLite"
