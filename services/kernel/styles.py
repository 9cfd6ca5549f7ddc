"""The five integration styles, named the same everywhere (CLI, config, results, reports)."""

from __future__ import annotations

from typing import Final

REST: Final = "rest"
GRPC: Final = "grpc"
GRAPHQL: Final = "graphql"
WEBSOCKET: Final = "websocket"
BROKER: Final = "broker"

# Orchestrated by the order service's saga; the broker style is choreographed instead.
ORCHESTRATED: Final = (REST, GRPC, GRAPHQL, WEBSOCKET)

ALL: Final = (*ORCHESTRATED, BROKER)

# ORDERFLOW_DOWNSTREAM_STYLE's default: each order calls downstream in the style it came in by.
MATCH: Final = "match"
