"""Inventory persistence: catalog, stock and reservations in the service's own SQLite file.

`CHECK (available >= 0)` makes negative stock impossible even if a rule were bypassed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from services.inventory.domain import Product, Reservation, ReservationStatus, ReservedLine
from services.kernel import sqlite
from services.kernel.broker import outbox
from services.kernel.clock import now_iso

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


class InventoryStore(sqlite.SqliteStore):
    SCHEMA = SCHEMA + outbox.SCHEMA

    def __init__(self, connection: sqlite3.Connection) -> None:
        super().__init__(connection)
        # The broker style's outbox and inbox, written in this store's transactions.
        self.messages = outbox.Messages(connection)

    def seed(self, products: Iterable[Product]) -> None:
        """Insert products that are missing; never touch stock that already moved."""
        with sqlite.transaction(self._db):
            self._db.executemany(
                "INSERT OR IGNORE INTO products (sku, name, price_cents, initial_stock, available)"
                " VALUES (?, ?, ?, ?, ?)",
                [(p.sku, p.name, p.price_cents, p.available, p.available) for p in products],
            )

    def products(self, skus: Iterable[str] | None = None) -> dict[str, Product]:
        if skus is None:
            rows = self._db.execute("SELECT * FROM products ORDER BY sku").fetchall()
        else:
            wanted = list(skus)
            marks = ",".join("?" * len(wanted))
            rows = self._db.execute(
                f"SELECT * FROM products WHERE sku IN ({marks}) ORDER BY sku", wanted
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
        """Give back the stock of a held reservation (call inside `transaction`)."""
        for line in reservation.lines:
            self._adjust_stock(line.sku, line.quantity)
        self._db.execute(
            "UPDATE reservations SET status = 'RELEASED', updated_at = ? WHERE order_id = ?",
            (now_iso(), reservation.order_id),
        )

    def add_release_marker(self, order_id: str) -> None:
        """Remember a release that arrived before its reservation, so the late one is refused."""
        now = now_iso()
        self._db.execute(
            "INSERT INTO reservations (order_id, status, created_at, updated_at)"
            " VALUES (?, 'RELEASED', ?, ?)",
            (order_id, now, now),
        )

    def stock_summary(self) -> dict[str, dict[str, int]]:
        """Initial, available and held units per SKU: what the stock-conservation audit reads."""
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


def _product(row: sqlite3.Row) -> Product:
    return Product(row["sku"], row["name"], row["price_cents"], row["available"])
