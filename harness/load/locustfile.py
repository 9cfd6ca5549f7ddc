"""The Locust users of the five styles: run them with `orderflow bench`, or interactively with
Locust's web UI and its class picker:

    locust -f harness/load/locustfile.py --class-picker      (then open http://localhost:8089)

`<Style>Shopper` runs the shared task mix (browse the catalog, place an order, look one up);
`<Style>Ping` runs only the style's no-op, which measures its transport ceiling. The variants
(`RestSse*`, `BrokerAmqp*`, see harness/vocabulary.py) are users of their own, beside their
style's. Rows are
reported with `request_type` = the style and `name` = the operation. `--orderflow-rate R` turns
the open model on: R arrivals per second across all users, latency measured from each task's
due time (see harness/load/pacing.py).
"""

from __future__ import annotations

import grpc.experimental.gevent as grpc_gevent

# Locust has monkey-patched the standard library for gevent on import; grpcio needs its own
# switch, before any channel exists.
import locust  # noqa: F401

grpc_gevent.init_gevent()

from harness.load import hooks  # noqa: E402
from harness.load.base import CALIBRATION, SHOPPING  # noqa: E402
from harness.load.styles.broker import BrokerAmqpUser, BrokerUser  # noqa: E402
from harness.load.styles.graphql import GraphqlUser  # noqa: E402
from harness.load.styles.grpc import GrpcUser  # noqa: E402
from harness.load.styles.rest import RestSseUser, RestUser  # noqa: E402
from harness.load.styles.websocket import WebsocketUser  # noqa: E402

hooks.install()


class RestShopper(RestUser):
    tasks = SHOPPING


class RestSseShopper(RestSseUser):
    tasks = SHOPPING


class GrpcShopper(GrpcUser):
    tasks = SHOPPING


class GraphqlShopper(GraphqlUser):
    tasks = SHOPPING


class WebsocketShopper(WebsocketUser):
    tasks = SHOPPING


class BrokerShopper(BrokerUser):
    tasks = SHOPPING


class BrokerAmqpShopper(BrokerAmqpUser):
    tasks = SHOPPING


class RestPing(RestUser):
    tasks = CALIBRATION


class RestSsePing(RestSseUser):
    tasks = CALIBRATION


class GrpcPing(GrpcUser):
    tasks = CALIBRATION


class GraphqlPing(GraphqlUser):
    tasks = CALIBRATION


class WebsocketPing(WebsocketUser):
    tasks = CALIBRATION


class BrokerPing(BrokerUser):
    tasks = CALIBRATION
    listens = True


class BrokerAmqpPing(BrokerAmqpUser):
    tasks = CALIBRATION
