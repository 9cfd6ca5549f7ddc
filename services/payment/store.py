"""Payment persistence: one row per order in the service's own database.

The order id is the primary key, so a second charge for the same order cannot be inserted even if
a rule were bypassed. The token is kept only to recognise a faithful replay.
"""

from __future__ import annotations

from services.kernel.broker import outbox
from services.kernel.clock import now_iso
from services.kernel.database import Database, Row, Store
from services.kernel.paging import FIRST_PAGE, Page
from services.payment.domain import ChargeRequest, Payment, PaymentStatus

SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (
    order_id     TEXT PRIMARY KEY,
    customer_id  TEXT,
    amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0),
    token        TEXT,
    status       TEXT NOT NULL
                 CHECK (status IN ('CHARGED', 'DECLINED', 'REFUNDED', 'VOIDED')),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    CHECK (status = 'VOIDED' OR (customer_id IS NOT NULL AND amount_cents > 0))
);
"""


class PaymentStore(Store):
    SCHEMA = SCHEMA + outbox.SCHEMA

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        # The broker style's outbox and inbox, written in this store's transactions.
        self.messages = outbox.Messages(database)

    def payment(self, order_id: str, *, lock: bool = False) -> Payment | None:
        """The order's payment; `lock` (inside `transaction`) holds its row until the end, so
        a status read is the status changed (PostgreSQL: two refunds at once take turns)."""
        locking = self._db.lock_clause if lock else ""
        row = self._db.execute(
            f"SELECT * FROM payments WHERE order_id = ?{locking}", (order_id,)
        ).fetchone()
        return None if row is None else _payment(row)

    def add_payment(self, request: ChargeRequest, status: PaymentStatus) -> Payment:
        """Record a decided charge (call inside `transaction`)."""
        now = now_iso()
        payment = Payment(
            request.order_id,
            request.customer_id,
            request.amount_cents,
            request.token,
            status,
            created_at=now,
            updated_at=now,
        )
        self._db.execute(
            "INSERT INTO payments (order_id, customer_id, amount_cents, token, status, created_at,"
            " updated_at) VALUES (:order_id, :customer_id, :amount_cents, :token, :status,"
            " :created_at, :updated_at)",
            vars(payment),  # scalars only: asdict's deep copy buys nothing on the hot path
        )
        return payment

    def add_void_marker(self, order_id: str) -> None:
        """Remember a refund that arrived before its charge, so the late charge is refused.

        Nothing was charged, so the customer and token are unknown (NULL) and the amount is 0.
        """
        now = now_iso()
        self._db.execute(
            "INSERT INTO payments (order_id, amount_cents, status, created_at, updated_at)"
            " VALUES (?, 0, 'VOIDED', ?, ?)",
            (order_id, now, now),
        )

    def set_status(self, order_id: str, status: PaymentStatus) -> None:
        self._db.execute(
            "UPDATE payments SET status = ?, updated_at = ? WHERE order_id = ?",
            (status.value, now_iso(), order_id),
        )

    def audited(self, page: Page = FIRST_PAGE) -> list[tuple[str, str, int]]:
        """A page of (order_id, status, amount_cents) of the payment rows, VOIDED markers too,
        by order."""
        rows = self._db.execute(
            "SELECT order_id, status, amount_cents FROM payments"
            " WHERE order_id > COALESCE(?1, '') ORDER BY order_id LIMIT ?2",
            (page.after, page.fetched),
        )
        return [(order_id, status, cents) for order_id, status, cents in rows]

    def summary(self) -> dict[str, int]:
        """Payments per status and the cents currently charged: what the money audit reads."""
        counts: dict[str, int] = {status.value: 0 for status in PaymentStatus}
        rows = self._db.execute(
            "SELECT status, COUNT(*) AS n, SUM(amount_cents) AS cents FROM payments GROUP BY status"
        ).fetchall()
        charged_cents = 0
        for row in rows:
            counts[row["status"]] = row["n"]
            if row["status"] == PaymentStatus.CHARGED:
                charged_cents = row["cents"]
        return {**counts, "charged_cents": charged_cents}


def _payment(row: Row) -> Payment:
    return Payment(
        order_id=row["order_id"],
        customer_id=row["customer_id"],
        amount_cents=row["amount_cents"],
        token=row["token"],
        status=PaymentStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
