"""The server side of every call to an orderflow service: correlation id in, errors mapped out.

It wraps each method's behaviour (not just the interceptor hook) so that the correlation id is
set in the task that runs the handler, where the log lines and outbound calls read it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final, NoReturn, TypeAlias

import grpc

from services.kernel import correlation
from services.kernel.grpc import errors

log = logging.getLogger(__name__)

# Health checking and reflection keep their own conventions; ours are the orderflow.* services.
OWN_METHODS: Final = "/orderflow."

Context = grpc.aio.ServicerContext[Any, Any]
# grpc's RpcMethodHandler is generic in its stubs only, hence the quotes.
Continuation: TypeAlias = (
    "Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]]"
)


class EdgeInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None or not handler_call_details.method.startswith(OWN_METHODS):
            return handler
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _unary(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _streaming(handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


def _unary(behaviour: Any) -> Callable[[Any, Context], Awaitable[Any]]:
    async def unary(request: Any, context: Context) -> Any:
        _begin(context)
        try:
            response = await behaviour(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _map(context, error)
        context.set_trailing_metadata(errors.trailing())
        return response

    return unary


def _streaming(behaviour: Any) -> Callable[[Any, Context], AsyncIterator[Any]]:
    async def streaming(request: Any, context: Context) -> AsyncIterator[Any]:
        _begin(context)
        try:
            async for response in behaviour(request, context):
                yield response
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _map(context, error)
        context.set_trailing_metadata(errors.trailing())

    return streaming


def _begin(context: Context) -> None:
    supplied = dict(context.invocation_metadata() or ()).get(errors.CORRELATION_KEY)
    correlation.begin(supplied if isinstance(supplied, str) else None)


async def _map(context: Context, error: Exception) -> NoReturn:
    if not isinstance(error, errors.MAPPED):
        log.exception("unhandled error in a gRPC call")
        message = "an unexpected error occurred; see the service log"
        await errors.abort(context, grpc.StatusCode.INTERNAL, "INTERNAL_ERROR", message)
    await errors.abort_for(context, error)
