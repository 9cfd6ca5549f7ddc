"""A client of a service's control endpoint (services/kernel/control.py): set and clear the
application faults of one service, as the fault scenarios and the tests do."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from harness.stack.ports import free_ports
from services.kernel.config import SERVICES

TIMEOUT_S = 5.0


class FaultControlError(RuntimeError):
    """The control endpoint refused (bad token, bad fault) or did not answer."""


class FaultControl:
    def __init__(self, port: int, token: str) -> None:
        self._url = f"http://127.0.0.1:{port}/faults"  # it listens on loopback only
        self._headers = {"Authorization": f"Bearer {token}"}

    def set(self, operation: str, **fault: Any) -> dict[str, Any]:
        """E.g. set("payment.charge", latency_ms=200, jitter_ms=50, error_rate=0.1)."""
        answer = self._call("PUT", f"{self._url}/{operation}", json=fault)
        body: dict[str, Any] = answer.json()["fault"]
        return body

    def clear(self, operation: str | None = None) -> None:
        self._call("DELETE", self._url if operation is None else f"{self._url}/{operation}")

    def active(self) -> dict[str, Any]:
        body: dict[str, Any] = self._call("GET", self._url).json()["active"]
        return body

    def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            answer = httpx.request(method, url, headers=self._headers, timeout=TIMEOUT_S, **kwargs)
        except httpx.HTTPError as error:
            message = f"the control endpoint at {url} does not answer: {error}"
            raise FaultControlError(message) from None
        if answer.status_code >= 400:
            detail = answer.json().get("error", answer.text) if answer.content else ""
            raise FaultControlError(f"{method} {url}: {answer.status_code} {detail}")
        return answer


def control_environment(token: str, services: Iterable[str] = SERVICES) -> dict[str, str]:
    """What a stack needs for every service's control endpoint on a free port of its own (the
    defaults, HTTP port + 100, would clash between stacks side by side)."""
    chosen = list(services)
    ports = free_ports(len(chosen), "127.0.0.1")
    env = {"ORDERFLOW_CONTROL_TOKEN": token}
    env.update({control_variable(s): str(port) for s, port in zip(chosen, ports, strict=True)})
    return env


def control_variable(service: str) -> str:
    return f"ORDERFLOW_{service.upper()}_CONTROL_PORT"


def controls(env: Mapping[str, str]) -> dict[str, FaultControl]:
    """A client per service whose control port `env` (from control_environment) names."""
    token = env["ORDERFLOW_CONTROL_TOKEN"]
    return {
        service: FaultControl(int(env[variable]), token)
        for service in SERVICES
        if (variable := control_variable(service)) in env
    }
