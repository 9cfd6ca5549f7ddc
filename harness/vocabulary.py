"""The words the harness shares: style names, order outcomes, audit counts and run phases.

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
