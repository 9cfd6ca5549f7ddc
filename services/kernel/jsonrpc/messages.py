"""JSON-RPC 2.0 messages: parsing what arrives, building what leaves.

Parsing is strict: anything that is not exactly a JSON-RPC 2.0 request object (or a batch of
them) becomes an error object for the caller, never an exception that could end the connection.
In a batch, each element that is not a request gets its own error in the answer array.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from services.kernel.jsonrpc.errors import (
    INVALID_REQUEST,
    PARSE_ERROR,
    RpcError,
)

VERSION: Final = "2.0"
RequestId = str | int | None
_MEMBERS: Final = frozenset({"jsonrpc", "method", "params", "id"})
_NO_ID: Final = object()


@dataclass(frozen=True)
class Request:
    method: str
    params: object  # checked by the dispatcher, where a notification's errors stay silent
    id: RequestId
    is_notification: bool


class BadMessage(Exception):
    """The message is not a request; answer `error` with `request_id` (null unless known)."""

    def __init__(self, error: RpcError, request_id: RequestId = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.request_id = request_id


@dataclass(frozen=True)
class Batch:
    """A batch (JSON-RPC 2.0 §6): its elements in order, each a request or why it is not one."""

    elements: tuple[Request | BadMessage, ...]


@dataclass(frozen=True)
class Limits:
    max_bytes: int  # of one message, a batch included
    max_batch: int  # requests in one batch


def parse(raw: str | bytes, limits: Limits) -> Request | Batch:
    """One request or a batch. Raises BadMessage when the message is answered by one error."""
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode())
    if size > limits.max_bytes:
        data = {"code": "MESSAGE_TOO_LARGE", "limit_bytes": limits.max_bytes}
        error = RpcError(INVALID_REQUEST, f"message exceeds {limits.max_bytes} bytes", data)
        # Read the id only up to twice the limit, which is all the WebSocket layer lets through.
        raise BadMessage(error, _readable_id(raw) if size <= 2 * limits.max_bytes else None)
    body = _load(raw)
    if isinstance(body, list):
        return _batch(body, limits.max_batch)
    return _request(body)


def _batch(body: list[Any], max_batch: int) -> Batch:
    if not body:  # the spec's own answer to `[]`: one error, not an empty array
        raise BadMessage(RpcError(INVALID_REQUEST, "an empty batch", {"code": "EMPTY_BATCH"}))
    if len(body) > max_batch:
        data = {"code": "BATCH_TOO_LARGE", "limit_requests": max_batch}
        message = f"a batch holds at most {max_batch} requests"
        raise BadMessage(RpcError(INVALID_REQUEST, message, data))
    return Batch(tuple(_element(item) for item in body))


def _element(item: object) -> Request | BadMessage:
    try:
        return _request(item)
    except BadMessage as bad:
        return bad


def _request(body: object) -> Request:
    if not isinstance(body, dict):
        raise _invalid("a request must be a JSON object")
    request_id = body.get("id", _NO_ID)
    if request_id is not _NO_ID and not _is_id(request_id):
        raise _invalid("id must be a string, an integer or null")
    known_id: RequestId = None if request_id is _NO_ID else request_id
    _check_envelope(body, known_id)
    return Request(body["method"], body.get("params", {}), known_id, request_id is _NO_ID)


def _load(raw: str | bytes) -> Any:
    try:
        return json.loads(raw)
    except UnicodeDecodeError:  # binary frame, broken UTF-8: the id may still be readable
        raise _malformed(_readable_id(raw)) from None
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise _malformed() from None


def _malformed(request_id: RequestId = None) -> BadMessage:
    error = RpcError(PARSE_ERROR, "the message is not valid JSON", {"code": "MALFORMED_JSON"})
    return BadMessage(error, request_id)


def _readable_id(raw: str | bytes) -> RequestId:
    """The id of a message refused as a whole, if it is a request object once read leniently
    (broken UTF-8 replaced): the caller can then tell which of its requests failed."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return None
    found = body.get("id") if isinstance(body, dict) else None
    return found if _is_id(found) else None


def _check_envelope(body: dict[str, Any], request_id: RequestId) -> None:
    if body.get("jsonrpc") != VERSION:
        raise _invalid('jsonrpc must be "2.0"', request_id)
    if not isinstance(body.get("method"), str) or not body["method"]:
        raise _invalid("method must be a non-empty string", request_id)
    if unknown := sorted(set(body) - _MEMBERS):
        raise _invalid(f"unknown member(s): {', '.join(unknown)}", request_id)


def _is_id(value: object) -> bool:
    return value is None or isinstance(value, str) or type(value) is int


def _invalid(message: str, request_id: RequestId = None) -> BadMessage:
    return BadMessage(RpcError(INVALID_REQUEST, message, {"code": "INVALID_MESSAGE"}), request_id)


def result(request_id: RequestId, value: object) -> dict[str, Any]:
    return {"jsonrpc": VERSION, "id": request_id, "result": value}


def failure(request_id: RequestId, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": VERSION, "id": request_id, "error": error.to_json()}


def notification(method: str, params: object) -> dict[str, Any]:
    return {"jsonrpc": VERSION, "method": method, "params": params}


def request(request_id: RequestId, method: str, params: object) -> dict[str, Any]:
    return {"jsonrpc": VERSION, "id": request_id, "method": method, "params": params}


def encode(message: dict[str, Any] | list[dict[str, Any]]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Answer:
    """A response as a client receives it: `error` is None when `result` holds the outcome."""

    id: RequestId
    result: Any
    error: RpcError | None


def parse_answer(raw: str | bytes) -> Answer | None:
    """A response, or None for a notification. Raises ValueError for anything else."""
    body = json.loads(raw)
    if not isinstance(body, dict) or body.get("jsonrpc") != VERSION:
        raise ValueError("not a JSON-RPC 2.0 message")
    if "method" in body and "id" not in body:
        return None
    if not _is_id(body.get("id")) or ("result" in body) == ("error" in body):
        raise ValueError("not a JSON-RPC 2.0 response")
    if "result" in body:
        return Answer(body["id"], body["result"], None)
    return Answer(body["id"], None, _error(body["error"]))


def _error(raw: object) -> RpcError:
    if not isinstance(raw, dict) or type(raw.get("code")) is not int:
        raise ValueError("malformed error object")
    data = raw.get("data")
    return RpcError(
        raw["code"], str(raw.get("message", "")), data if isinstance(data, dict) else {}
    )
