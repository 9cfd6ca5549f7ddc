"""Counts the gRPC calls a server receives, by method, as the HTTP middleware counts requests:
with several replicas behind a balancer, each replica's count shows how the calls were spread
(one HTTP/2 connection through an L4 proxy lands every call on one replica)."""

from __future__ import annotations

from typing import Any

import grpc

from services.kernel.grpc.interceptor import OWN_METHODS, Continuation
from services.kernel.telemetry import Telemetry

CALLS = "orderflow_grpc_requests"


class CallCounter(grpc.aio.ServerInterceptor):
    def __init__(self, telemetry: Telemetry) -> None:
        self.calls = telemetry.counter(CALLS, "gRPC calls received, by method.", ["method"])

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method = handler_call_details.method
        if method.startswith(OWN_METHODS):  # health checks and reflection are not the load
            self.calls.labels(method).inc()
        return await continuation(handler_call_details)
