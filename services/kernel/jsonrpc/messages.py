"""JSON-RPC 2.0 messages: parsing what arrives, building what leaves.

Parsing is strict: anything that is not exactly a JSON-RPC 2.0 request object becomes an error
object for the caller, never an exception that could end the connection.
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


def parse_request(raw: str | bytes, max_bytes: int) -> Request:
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode())
    if size > max_bytes:
        data = {"code": "MESSAGE_TOO_LARGE", "limit_bytes": max_bytes}
        raise BadMessage(RpcError(INVALID_REQUEST, f"message exceeds {max_bytes} bytes", data))
    body = _load(raw)
    if isinstance(body, list):
        message = "batches are not supported: send each request as its own message"
        raise BadMessage(RpcError(INVALID_REQUEST, message, {"code": "BATCH_UNSUPPORTED"}))
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
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        data = {"code": "MALFORMED_JSON"}
        raise BadMessage(RpcError(PARSE_ERROR, "the message is not valid JSON", data)) from None


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


def encode(message: dict[str, Any]) -> str:
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
