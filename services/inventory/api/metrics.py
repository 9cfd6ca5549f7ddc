"""Stock as Prometheus gauges, read from the store at scrape time (no counter to keep in sync)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.inventory.store import InventoryStore


class StockCollector(Collector):
    def __init__(self, store: InventoryStore) -> None:
        self._store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        units = GaugeMetricFamily(
            "orderflow_stock_units",
            "Units per SKU: available, or held by reservations.",
            labels=["sku", "state"],
        )
        # Not stock_summary: it sums every held reservation's lines, which grow with the run
        # (tens of milliseconds on the event loop per scrape after a few thousand orders).
        for sku, (available, held) in self._store.stock_levels().items():
            units.add_metric([sku, "available"], available)
            units.add_metric([sku, "held"], held)
        yield units
