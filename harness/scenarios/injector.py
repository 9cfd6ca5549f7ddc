"""Applies a scenario's faults to the stack it runs on: what `begin` and `end` of each kind do.

Application faults go through each service's control endpoint (services/kernel/control.py);
process faults through the supervisor (harness/stack/supervisor.py); a broker outage stops the
private broker the scenario started (harness/rabbit/node.py), never the machine's; poison messages
are published to the stack's own broker namespace. A traffic spike is the load generator's own
schedule (harness/load/pacing.py), so it needs nothing here.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Final

from harness.clients.broker import BrokerOrderClient
from harness.clients.faults import FaultControl
from harness.rabbit.node import PrivateBroker
from harness.scenarios.spec import FaultSpec
from harness.stack.supervisor import Stack
from services.kernel.broker import catalogue as ev
from services.kernel.broker.events import new_event

RESTART_TIMEOUT_S: Final = 60.0
SLOW_CONSUMER_OPERATION: Final = "notification.record"
# What a broken or hostile publisher sends: not JSON, JSON that is no event, an event whose data
# breaks the command's schema. Each must end in the order service's dead-letter queue.
POISON: Final = (
    b"\x00 not json",
    json.dumps({"no": "envelope"}).encode(),
    new_event(ev.ORDER_PLACE, "orderflow/poison", {"items": "none"}, "poison").encode(),
)


class Injector:
    def __init__(
        self,
        stack: Stack,
        controls: Mapping[str, FaultControl],
        broker_url: str,
        namespace: str,
        private_broker: PrivateBroker | None = None,
        on_kill: Callable[[str], None] | None = None,
    ) -> None:
        """`on_kill`: told the target of each crash just after its process was killed."""
        self._stack = stack
        self._controls = controls
        self._broker_url = broker_url
        self._namespace = namespace
        self._private_broker = private_broker
        self._on_kill = on_kill
        self._poisoners: dict[int, _Poisoner] = {}
        self.poison_published = 0

    def begin(self, fault: FaultSpec) -> None:
        kind, target, params = fault.kind, fault.target, fault.params
        if kind in ("latency", "errors", "hang"):
            self._controls[target].set(params["operation"], **_app_fault(kind, params))
        elif kind == "slow-consumer":
            self._controls[target].set(SLOW_CONSUMER_OPERATION, latency_ms=params["latency_ms"])
        elif kind == "crash":
            self._stack.kill(target)
            if self._on_kill is not None:
                self._on_kill(target)
        elif kind == "pause":
            self._stack.pause(target)
        elif kind == "slow-start":
            # A redeploy: a graceful stop, then a process that takes `duration` to boot.
            self._stack.terminate(target)
            delay = {"ORDERFLOW_START_DELAY_S": f"{fault.duration_s:g}"}
            self._stack.restart(target, fault.duration_s + RESTART_TIMEOUT_S, delay)
        elif kind == "outage":
            broker = self._require_private_broker()
            if params["how"] == "kill":
                broker.kill()
            else:
                broker.stop()
        elif kind == "poison":
            poisoner = _Poisoner(self._broker_url, self._namespace, float(params["rate"]))
            self._poisoners[id(fault)] = poisoner
            poisoner.start()
        # "spike": the load generator runs it from its own schedule

    def end(self, fault: FaultSpec) -> None:
        kind, target, params = fault.kind, fault.target, fault.params
        if kind in ("latency", "errors", "hang"):
            self._controls[target].clear(params["operation"])
        elif kind == "slow-consumer":
            self._controls[target].clear(SLOW_CONSUMER_OPERATION)
        elif kind == "crash":
            self._stack.restart(target, RESTART_TIMEOUT_S)
        elif kind == "slow-start" and not self._stack.is_running(target):
            self._stack.restart(target, RESTART_TIMEOUT_S)  # its slow restart failed: try again
        elif kind == "pause":
            self._stack.resume(target)
        elif kind == "outage":
            self._require_private_broker().start()
        elif kind == "poison":
            poisoner = self._poisoners.pop(id(fault))
            try:
                poisoner.stop()
            finally:
                self.poison_published += poisoner.published

    def _require_private_broker(self) -> PrivateBroker:
        if self._private_broker is None:
            raise RuntimeError("a broker outage needs the scenario's private broker")
        return self._private_broker


def _app_fault(kind: str, params: Mapping[str, object]) -> dict[str, object]:
    if kind == "latency":
        return {"latency_ms": params["latency_ms"], "jitter_ms": params.get("jitter_ms", 0.0)}
    if kind == "errors":
        return {"error_rate": params["error_rate"], "error": params.get("error", "transient")}
    return {"hang": True}


class _Poisoner:
    """Publishes poison at a steady rate on a thread of its own until stopped."""

    def __init__(self, broker_url: str, namespace: str, rate_per_s: float) -> None:
        self._url, self._namespace, self._interval = broker_url, namespace, 1.0 / rate_per_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="poisoner", daemon=True)
        self._failure: Exception | None = None
        self.published = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop publishing; raises what stopped it early, if anything."""
        self._stopping.set()
        self._thread.join(timeout=10)
        if self._failure is not None:
            raise RuntimeError(
                f"poison publishing stopped after {self.published}: {self._failure!r}"
            ) from self._failure

    def _run(self) -> None:
        try:
            self._publish()
        except Exception as error:  # reported when the fault ends, in the results
            self._failure = error

    def _publish(self) -> None:
        with BrokerOrderClient(self._url, self._namespace) as client:
            due = time.monotonic()
            while not self._stopping.wait(max(0.0, due - time.monotonic())):
                body = POISON[self.published % len(POISON)]
                client.publish_raw(body, ev.ORDER_PLACE, f"poison-{uuid.uuid4()}", None)
                self.published += 1
                due += self._interval
