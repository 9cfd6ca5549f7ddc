"""The server side of every call to an orderflow service: correlation id in, errors mapped out.

It wraps each method's behaviour (not just the interceptor hook) so that the correlation id is
set in the task that runs the handler, where the log lines and outbound calls read it. Every
method's decoder is wrapped too, health and reflection included: a request message that does not
decode is answered INVALID_ARGUMENT (services/kernel/grpc/decoding.py).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final, NoReturn, TypeAlias

import grpc

from services.kernel import correlation
from services.kernel.grpc import decoding, errors

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
        if handler is None:
            return None
        method = handler_call_details.method
        own = method.startswith(OWN_METHODS)
        decode = decoding.tolerant(handler.request_deserializer)
        encode = handler.response_serializer
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _unary(handler.unary_unary, method, own=own),
                request_deserializer=decode,
                response_serializer=encode,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _streaming(handler.unary_stream, method, own=own),
                request_deserializer=decode,
                response_serializer=encode,
            )
        if handler.stream_stream is not None:  # server reflection
            return grpc.stream_stream_rpc_method_handler(
                _bidirectional(handler.stream_stream, method),
                request_deserializer=decode,
                response_serializer=encode,
            )
        return handler  # no client-streaming method is served


def _unary(behaviour: Any, method: str, *, own: bool) -> Callable[[Any, Context], Awaitable[Any]]:
    async def unary(request: Any, context: Context) -> Any:
        if own:
            _begin(context)
        if isinstance(request, decoding.Undecodable):
            await decoding.refuse(context, method, request)
        if not own:
            return await behaviour(request, context)
        try:
            response = await behaviour(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _map(context, error)
        context.set_trailing_metadata(errors.trailing())
        return response

    return unary


def _streaming(
    behaviour: Any, method: str, *, own: bool
) -> Callable[[Any, Context], AsyncIterator[Any] | Awaitable[Any]]:
    if not inspect.isasyncgenfunction(behaviour):  # it writes with context.write (health Watch)
        return _unary(behaviour, method, own=own)

    async def streaming(request: Any, context: Context) -> AsyncIterator[Any]:
        if own:
            _begin(context)
        if isinstance(request, decoding.Undecodable):
            await decoding.refuse(context, method, request)
        try:
            async for response in behaviour(request, context):
                yield response
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            if not own:
                raise
            await _map(context, error)
        if own:
            context.set_trailing_metadata(errors.trailing())

    return streaming


def _bidirectional(
    behaviour: Any, method: str
) -> Callable[[AsyncIterator[Any], Context], AsyncIterator[Any]]:
    async def bidirectional(requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
        async def decoded() -> AsyncIterator[Any]:
            async for request in requests:
                if isinstance(request, decoding.Undecodable):
                    await decoding.refuse(context, method, request)
                yield request

        async for response in behaviour(decoded(), context):
            yield response

    return bidirectional


def _begin(context: Context) -> None:
    supplied = dict(context.invocation_metadata() or ()).get(errors.CORRELATION_KEY)
    correlation.begin(supplied if isinstance(supplied, str) else None)


async def _map(context: Context, error: Exception) -> NoReturn:
    if not isinstance(error, errors.MAPPED):
        log.exception("unhandled error in a gRPC call")
        message = "an unexpected error occurred; see the service log"
        await errors.abort(context, grpc.StatusCode.INTERNAL, "INTERNAL_ERROR", message)
    await errors.abort_for(context, error)
