"""Inventory persistence: catalog, stock and reservations in the service's own database.

`CHECK (available >= 0)` makes negative stock impossible even if a rule were bypassed. On
PostgreSQL, where other processes may reserve at the same time, a reservation reads the stock
it plans on with its rows locked (`products(..., lock=True)`: FOR UPDATE, in SKU order so two
reservations never wait on each other), and a release gives stock back only if its own
conditional update moved the reservation from RESERVED.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.inventory.domain import Product, Reservation, ReservationStatus, ReservedLine
from services.kernel.broker import outbox
from services.kernel.clock import now_iso
from services.kernel.database import Database, Row, Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    sku           TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    price_cents   INTEGER NOT NULL CHECK (price_cents > 0),
    initial_stock INTEGER NOT NULL CHECK (initial_stock >= 0),
    available     INTEGER NOT NULL CHECK (available >= 0)
);
CREATE TABLE IF NOT EXISTS reservations (
    order_id   TEXT PRIMARY KEY,
    status     TEXT NOT NULL CHECK (status IN ('RESERVED', 'RELEASED')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reservation_lines (
    order_id         TEXT NOT NULL REFERENCES reservations (order_id),
    sku              TEXT NOT NULL REFERENCES products (sku),
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents > 0),
    position         INTEGER NOT NULL,
    PRIMARY KEY (order_id, sku)
);
"""


class InventoryStore(Store):
    SCHEMA = SCHEMA + outbox.SCHEMA

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        # The broker style's outbox and inbox, written in this store's transactions.
        self.messages = outbox.Messages(database)

    def seed(self, products: Iterable[Product]) -> None:
        """Insert products that are missing; never touch stock that already moved. At start-up
        only: it may wait for a replica seeding at the same time (`patient`)."""
        with self._db.transaction(patient=True):
            self._db.executemany(
                "INSERT OR IGNORE INTO products (sku, name, price_cents, initial_stock, available)"
                " VALUES (?, ?, ?, ?, ?)",
                [(p.sku, p.name, p.price_cents, p.available, p.available) for p in products],
            )

    def products(
        self, skus: Iterable[str] | None = None, *, lock: bool = False
    ) -> dict[str, Product]:
        """The catalog, or the products of `skus`; `lock` (inside `transaction`) holds their
        rows until it ends, so the stock read is the stock written over."""
        if skus is None:
            rows = self._db.execute("SELECT * FROM products ORDER BY sku").fetchall()
        else:
            wanted = sorted(set(skus))
            marks = ",".join("?" * len(wanted))
            locking = self._db.lock_clause if lock else ""
            rows = self._db.execute(
                f"SELECT * FROM products WHERE sku IN ({marks}) ORDER BY sku{locking}", wanted
            ).fetchall()
        return {row["sku"]: _product(row) for row in rows}

    def reservation(self, order_id: str) -> Reservation | None:
        row = self._db.execute(
            "SELECT status FROM reservations WHERE order_id = ?", (order_id,)
        ).fetchone()
        if row is None:
            return None
        lines = self._db.execute(
            "SELECT sku, quantity, unit_price_cents FROM reservation_lines"
            " WHERE order_id = ? ORDER BY position",
            (order_id,),
        ).fetchall()
        return Reservation(
            order_id,
            ReservationStatus(row["status"]),
            tuple(ReservedLine(r["sku"], r["quantity"], r["unit_price_cents"]) for r in lines),
        )

    def add_reservation(self, reservation: Reservation) -> None:
        """Record a reservation and take its stock (call inside `transaction`)."""
        now = now_iso()
        self._db.execute(
            "INSERT INTO reservations (order_id, status, created_at, updated_at) VALUES (?,?,?,?)",
            (reservation.order_id, reservation.status, now, now),
        )
        for position, line in enumerate(reservation.lines):
            self._db.execute(
                "INSERT INTO reservation_lines VALUES (?, ?, ?, ?, ?)",
                (reservation.order_id, line.sku, line.quantity, line.unit_price_cents, position),
            )
            self._adjust_stock(line.sku, -line.quantity)

    def mark_released(self, reservation: Reservation) -> None:
        """Give back the stock of a held reservation (call inside `transaction`); only once,
        even if another process released it since it was read."""
        released = self._db.execute(
            "UPDATE reservations SET status = 'RELEASED', updated_at = ?"
            " WHERE order_id = ? AND status = 'RESERVED'",
            (now_iso(), reservation.order_id),
        )
        if released.rowcount == 1:
            for line in reservation.lines:
                self._adjust_stock(line.sku, line.quantity)

    def add_release_marker(self, order_id: str) -> None:
        """Remember a release that arrived before its reservation, so the late one is refused."""
        now = now_iso()
        self._db.execute(
            "INSERT INTO reservations (order_id, status, created_at, updated_at)"
            " VALUES (?, 'RELEASED', ?, ?)",
            (order_id, now, now),
        )

    def stock_levels(self) -> dict[str, tuple[int, int]]:
        """Available and held units per SKU by the store's own bookkeeping (held: what was
        taken from the initial stock), read from the catalog's rows alone: cheap enough for
        every scrape however many reservations there are. The audit sums the reservations'
        lines instead (stock_summary)."""
        rows = self._db.execute(
            "SELECT sku, initial_stock, available FROM products ORDER BY sku"
        ).fetchall()
        return {r["sku"]: (r["available"], r["initial_stock"] - r["available"]) for r in rows}

    def stock_summary(self) -> dict[str, dict[str, int]]:
        """Initial, available and held units per SKU: what the stock-conservation audit reads.
        It sums the lines of every held reservation, so its cost grows with them: the audit's
        query, not a scrape's."""
        rows = self._db.execute(
            "SELECT p.sku, p.initial_stock, p.available, COALESCE(SUM(l.quantity), 0) AS held"
            " FROM products p LEFT JOIN reservation_lines l ON l.sku = p.sku"
            " AND l.order_id IN (SELECT order_id FROM reservations WHERE status = 'RESERVED')"
            " GROUP BY p.sku ORDER BY p.sku"
        ).fetchall()
        return {
            r["sku"]: {
                "initial": r["initial_stock"],
                "available": r["available"],
                "held": r["held"],
            }
            for r in rows
        }

    def _adjust_stock(self, sku: str, delta: int) -> None:
        self._db.execute(
            "UPDATE products SET available = available + ? WHERE sku = ?", (delta, sku)
        )


def _product(row: Row) -> Product:
    return Product(row["sku"], row["name"], row["price_cents"], row["available"])
