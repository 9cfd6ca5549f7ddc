"""The dispatcher: one request in, one response (or none, for a notification) out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest

from services.kernel import correlation
from services.kernel.errors import NotFound
from services.kernel.jsonrpc.dispatcher import Dispatcher, Method, Peer
from services.kernel.jsonrpc.messages import BadMessage, Limits, Request, failure
from services.kernel.jsonrpc.params import Params


@dataclass
class FakePeer:
    correlation_id: str | None = None
    pushed: list[tuple[str, object]] = field(default_factory=list)

    async def notify(self, method: str, params: object) -> None:
        self.pushed.append((method, params))

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        return asyncio.create_task(work)


@dataclass
class Calls:
    seen: list[tuple[str, object]] = field(default_factory=list)

    def methods(self) -> dict[str, Method]:
        async def add(params: Params, peer: Peer) -> int:
            params.allow("a", "b")
            self.seen.append(("add", correlation.current()))
            return params.integer("a") + params.integer("b")

        async def find(params: Params, peer: Peer) -> None:
            raise NotFound("no such thing", thing=params.text("thing"))

        async def crash(params: Params, peer: Peer) -> None:
            self.seen.append(("crash", None))
            raise RuntimeError("a bug with secrets in it")

        return {"add": add, "find": find, "crash": crash}


@pytest.fixture
def calls() -> Calls:
    return Calls()


async def answer(calls: Calls, message: object, peer: FakePeer | None = None) -> Any:
    """As the server answers a message that holds one request (batches: test_jsonrpc_server)."""
    dispatcher = Dispatcher(calls.methods(), Limits(max_bytes=1024, max_batch=8))
    raw = message if isinstance(message, str) else json.dumps(message)
    try:
        request = dispatcher.read(raw)
    except BadMessage as bad:
        return failure(bad.request_id, bad.error)
    assert isinstance(request, Request)
    return await dispatcher.answer(request, peer or FakePeer())


def request(method: str, params: object = None, request_id: object = 1) -> dict[str, Any]:
    message = {"jsonrpc": "2.0", "id": request_id, "method": method}
    return message if params is None else {**message, "params": params}


async def test_a_call_is_answered_with_its_result(calls: Calls) -> None:
    assert await answer(calls, request("add", {"a": 1, "b": 2}, "x")) == {
        "jsonrpc": "2.0",
        "id": "x",
        "result": 3,
    }


async def test_every_endpoint_answers_the_no_op_ping(calls: Calls) -> None:
    """rpc.ping measures the transport alone (the load harness's calibration)."""
    assert await answer(calls, request("rpc.ping", None, 7)) == {
        "jsonrpc": "2.0",
        "id": 7,
        "result": {},
    }
    assert calls.seen == []


async def test_a_domain_error_keeps_its_code_and_details(calls: Calls) -> None:
    error = (await answer(calls, request("find", {"thing": "t"})))["error"]
    assert error == {
        "code": -32001,
        "message": "no such thing",
        "data": {"code": "NOT_FOUND", "thing": "t"},
    }


async def test_an_unknown_method_and_bad_params(calls: Calls) -> None:
    unknown = (await answer(calls, request("subtract", {})))["error"]
    assert (unknown["code"], unknown["data"]) == (
        -32601,
        {"code": "METHOD_NOT_FOUND", "method": "subtract"},
    )
    wrong = (await answer(calls, request("add", {"a": "1", "b": 2})))["error"]
    assert (wrong["code"], wrong["data"]["field"]) == (-32602, "a")
    positional = (await answer(calls, request("add", [1, 2])))["error"]
    assert (positional["code"], positional["data"]["field"]) == (-32602, "params")


async def test_a_bug_is_an_internal_error_that_tells_nothing(
    calls: Calls, caplog: pytest.LogCaptureFixture
) -> None:
    error = (await answer(calls, request("crash")))["error"]
    assert (error["code"], error["data"]) == (-32603, {"code": "INTERNAL_ERROR"})
    assert "secrets" not in json.dumps(error)
    assert "secrets" in caplog.text  # but the service log has the traceback


async def test_notifications_run_and_are_never_answered(calls: Calls) -> None:
    note = {"jsonrpc": "2.0", "method": "crash"}
    assert await answer(calls, note) is None
    assert await answer(calls, {"jsonrpc": "2.0", "method": "nope"}) is None
    assert await answer(calls, {"jsonrpc": "2.0", "method": "add", "params": [1]}) is None
    assert calls.seen == [("crash", None)]


async def test_a_message_that_is_no_request_is_answered_with_id_null(calls: Calls) -> None:
    assert (await answer(calls, "{oops"))["id"] is None
    assert (await answer(calls, {"jsonrpc": "2.0", "method": 1}))["error"]["code"] == -32600


async def test_correlation_id_from_meta_else_the_connection(calls: Calls) -> None:
    peer = FakePeer(correlation_id="socket-id")
    meta = {"a": 1, "b": 1, "_meta": {"correlation_id": "own"}}

    async def in_own_task(message: object) -> None:  # as the server runs each request
        await answer(calls, message, peer)

    await asyncio.create_task(in_own_task(request("add", meta)))
    await asyncio.create_task(in_own_task(request("add", {"a": 1, "b": 1})))
    peer.correlation_id = None
    await asyncio.create_task(in_own_task(request("add", {"a": 1, "b": 1})))
    own, from_socket, made_up = (seen for _, seen in calls.seen)
    assert (own, from_socket) == ("own", "socket-id")
    assert isinstance(made_up, str) and made_up not in ("own", "socket-id")
