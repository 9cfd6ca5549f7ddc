"""The asynchronous HTTP front of the order service, through the four real service processes:
202 Accepted (`Prefer: respond-async`, the choreography), the status stream
(`GET /orders/{id}/events`, Server-Sent Events, read with a spec-only parser) and long polling
(`GET /orders/{id}?wait=`).

To hold an order where it is, the test pauses inventory (SIGSTOP): order.placed waits in its
queue, so the order stays PENDING until inventory resumes."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.clients import sse
from harness.clients.rest import wait_for
from harness.clients.sse import Event, EventReader
from harness.stack.supervisor import Stack
from harness.vocabulary import TERMINAL
from tests.e2e.conftest import remove_topology, start_stack
from tests.e2e.rest_client import order_body

pytestmark = pytest.mark.e2e

MAX_STREAMS = 2
MAX_SAGAS = 2
ASYNC = {"Prefer": "respond-async"}
ORCHESTRATED = {"Prefer": "respond-async, flow=orchestrated"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir: Path = tmp_path_factory.mktemp("async-front")
    running = start_stack(
        data_dir,
        ORDERFLOW_SSE_MAX_STREAMS=str(MAX_STREAMS),
        ORDERFLOW_SSE_KEEPALIVE_S="0.5",
        ORDERFLOW_MAX_SAGAS_IN_FLIGHT=str(MAX_SAGAS),
    )
    with running:
        yield running
    remove_topology(running)


@contextlib.contextmanager
def inventory_paused(stack: Stack) -> Iterator[None]:
    stack.pause("inventory")
    try:
        yield
    finally:
        stack.resume("inventory")


def accept(http: httpx.Client, stack: Stack, body: Any, key: str | None = None) -> httpx.Response:
    headers = {**ASYNC, **({"Idempotency-Key": key} if key else {})}
    return http.post(f"{stack.url('order')}/orders", json=body, headers=headers)


def events_url(stack: Stack, order_id: str) -> str:
    return f"{stack.url('order')}/orders/{order_id}/events"


def read_events(
    http: httpx.Client, url: str, last_event_id: str | None = None, limit: int | None = None
) -> list[Event]:
    """The stream's events until it ends (or `limit` of them, then the client hangs up)."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    seen: list[Event] = []
    with http.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for event in EventReader().read(response):
            seen.append(event)
            if len(seen) == limit:
                break
    return seen


def statuses(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.last_event_id, e.json()["status"]) for e in events]


def test_202_then_the_stream_follows_a_broker_order_to_its_end(
    stack: Stack, http: httpx.Client
) -> None:
    answer = accept(http, stack, order_body({"KB-MECH": 1}))
    assert answer.status_code == 202
    order = answer.json()
    assert (order["status"], answer.headers["Preference-Applied"]) == ("PENDING", "respond-async")
    assert answer.headers["Location"] == f"/orders/{order['id']}"
    events = read_events(http, stack.url("order") + answer.headers["Location"] + "/events")
    assert all(e.type == "status" for e in events)
    assert [e.last_event_id for e in events] == [str(n) for n in range(1, len(events) + 1)]
    assert events[0].json()["status"] == "PENDING"
    assert events[-1].json() | {"at": None} == {
        "order_id": order["id"],
        "seq": len(events),
        "status": "CONFIRMED",
        "reason": None,
        "at": None,
    }
    saga = http.get(f"{stack.url('order')}/orders/{order['id']}/saga").json()
    assert saga["style"] == "broker"  # the choreography carried it, not the orchestrated saga


def test_the_stream_of_an_orchestrated_rest_order(stack: Stack, http: httpx.Client) -> None:
    placed = http.post(f"{stack.url('order')}/orders", json=order_body({"HEADSET": 1}))
    assert placed.status_code == 201
    order = placed.json()
    events = read_events(http, events_url(stack, order["id"]))
    assert statuses(events) == [
        ("1", "PENDING"),
        ("2", "RESERVED"),
        ("3", "PAID"),
        ("4", "CONFIRMED"),
    ]


def test_the_orchestrated_flow_answers_202_and_its_saga_reaches_the_stream(
    stack: Stack, http: httpx.Client
) -> None:
    """`Prefer: respond-async, flow=orchestrated`: REST's saga, answered before it runs (the
    load's rest-sse), followed with the shared stream client (harness/clients/sse.py)."""
    prefer = {"Prefer": "respond-async, flow=orchestrated"}
    url = f"{stack.url('order')}/orders"
    answer = http.post(url, json=order_body({"HEADSET": 1}), headers=prefer)
    assert answer.status_code == 202, answer.text
    assert answer.headers["Preference-Applied"] == "respond-async, flow=orchestrated"
    events, outcome = sse.watch(http, stack.url("order") + answer.headers["Location"])
    assert outcome == ("CONFIRMED", None)
    assert [s for _, s in statuses(events)] == ["PENDING", "RESERVED", "PAID", "CONFIRMED"]
    saga = http.get(f"{url}/{answer.json()['id']}/saga").json()
    assert saga["style"] == "rest"  # the orchestrated saga carried it, not the choreography


def test_a_declined_broker_order_streams_to_cancelled(stack: Stack, http: httpx.Client) -> None:
    order = accept(http, stack, order_body({"HEADSET": 1}, token="tok_chargeDeclined")).json()
    final = read_events(http, events_url(stack, order["id"]))[-1].json()
    assert (final["status"], final["reason"]) == ("CANCELLED", "PAYMENT_DECLINED")


def test_resuming_with_last_event_id_misses_nothing_and_repeats_nothing(
    stack: Stack, http: httpx.Client
) -> None:
    url = ""
    with inventory_paused(stack):
        order = accept(http, stack, order_body({"KB-MECH": 1})).json()
        url = events_url(stack, order["id"])
        first = read_events(http, url, limit=1)  # then the client drops the connection
        assert statuses(first) == [("1", "PENDING")]
    wait_for(http, f"{stack.url('order')}/orders/{order['id']}", TERMINAL)
    rest = read_events(http, url, last_event_id=first[-1].last_event_id)
    whole = read_events(http, url)
    assert statuses(first + rest) == statuses(whole)
    assert whole[-1].json()["status"] == "CONFIRMED"
    # Reconnecting after the end (as EventSource does when a stream closes): 204, "stop".
    done = http.get(url, headers={"Last-Event-ID": whole[-1].last_event_id})
    assert (done.status_code, done.content) == (204, b"")


def test_an_open_stream_receives_the_changes_as_they_happen(
    stack: Stack, http: httpx.Client
) -> None:
    with contextlib.ExitStack() as held:
        with inventory_paused(stack):
            order = accept(http, stack, order_body({"CABLE-USBC": 1})).json()
            response = held.enter_context(http.stream("GET", events_url(stack, order["id"])))
            assert response.status_code == 200  # opened while the order is still PENDING
        # Inventory is back: the rest of the saga arrives on the stream already open.
        seen = list(EventReader().read(response))
    assert statuses(seen)[0] == ("1", "PENDING")
    assert seen[-1].json()["status"] == "CONFIRMED"


def test_keep_alive_comments_while_an_order_waits(stack: Stack, http: httpx.Client) -> None:
    reader = EventReader()
    with inventory_paused(stack):
        order = accept(http, stack, order_body({"CABLE-USBC": 1})).json()
        with http.stream("GET", events_url(stack, order["id"])) as response:
            for line in response.iter_lines():
                reader.feed(line)
                if reader.comments:
                    break
    assert reader.comments  # a comment line (": keep-alive"), ignored by every client


def test_long_poll_returns_as_soon_as_the_status_changes(stack: Stack, http: httpx.Client) -> None:
    with inventory_paused(stack):
        order = accept(http, stack, order_body({"KB-MECH": 1})).json()
        later = threading.Timer(1.0, stack.resume, args=("inventory",))
        later.start()
        started = time.monotonic()
        answer = http.get(f"{stack.url('order')}/orders/{order['id']}", params={"wait": "25s"})
        waited = time.monotonic() - started
        later.join()
    assert answer.status_code == 200
    assert answer.json()["status"] != "PENDING"
    assert waited < 25  # woken by the change, not by the end of the wait


def test_long_poll_answers_the_unchanged_order_at_the_deadline(
    stack: Stack, http: httpx.Client
) -> None:
    with inventory_paused(stack):
        order = accept(http, stack, order_body({"KB-MECH": 1})).json()
        url = f"{stack.url('order')}/orders/{order['id']}"
        started = time.monotonic()
        by_query = http.get(url, params={"wait": "1.5s"})
        by_prefer = http.get(url, headers={"Prefer": "wait=1"})
        waited = time.monotonic() - started
    assert [by_query.json()["status"], by_prefer.json()["status"]] == ["PENDING", "PENDING"]
    assert by_prefer.headers["Preference-Applied"] == "wait=1"
    assert waited >= 2.5
    wait_for(http, url, TERMINAL)
    final = http.get(url, params={"wait": "20s"})  # final already: answered at once
    assert final.json()["status"] == "CONFIRMED"


def test_the_same_key_replays_the_202_and_another_body_is_refused(
    stack: Stack, http: httpx.Client
) -> None:
    key = f"async-{uuid.uuid4().hex}"
    body = order_body({"KB-MECH": 1})
    first = accept(http, stack, body, key)
    again = accept(http, stack, body, key)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    other = accept(http, stack, order_body({"KB-MECH": 2}, customer=body["customer_id"]), key)
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["code"] == "IDEMPOTENCY_MISMATCH"
    listed = http.get(f"{stack.url('order')}/orders", params={"customer_id": body["customer_id"]})
    assert [o["id"] for o in listed.json()["orders"]] == [first.json()["id"]]


def test_streams_beyond_the_limit_are_refused_until_one_closes(
    stack: Stack, http: httpx.Client
) -> None:
    with inventory_paused(stack), contextlib.ExitStack() as streams:
        order = accept(http, stack, order_body({"KB-MECH": 1})).json()
        url = events_url(stack, order["id"])
        held = [streams.enter_context(http.stream("GET", url)) for _ in range(MAX_STREAMS)]
        assert [r.status_code for r in held] == [200] * MAX_STREAMS
        refused = http.get(url)
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "TOO_MANY_STREAMS"
        assert refused.json()["limit"] == MAX_STREAMS
        assert int(refused.headers["Retry-After"]) == refused.json()["retry_after_s"] == 5
        held[0].close()
        assert _opens_again(http, url)


def test_orchestrated_orders_beyond_the_sagas_in_flight_are_refused_until_some_end(
    stack: Stack, http: httpx.Client
) -> None:
    """A 202's saga outlives its request: while the process's MAX_SAGAS sagas wait on inventory
    (paused), one more is refused with 503, nothing recorded; once they end, it goes in."""
    url = f"{stack.url('order')}/orders"
    key = {"Idempotency-Key": f"beyond-{uuid.uuid4()}"}
    with inventory_paused(stack):
        held = [
            http.post(url, json=order_body({"KB-MECH": 1}), headers=ORCHESTRATED)
            for _ in range(MAX_SAGAS)
        ]
        assert [a.status_code for a in held] == [202] * MAX_SAGAS
        refused = http.post(url, json=order_body({"KB-MECH": 1}), headers={**ORCHESTRATED, **key})
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "TOO_MANY_ORDERS_IN_FLIGHT"
        assert int(refused.headers["Retry-After"]) > 0
    for answer in held:
        wait_for(http, stack.url("order") + answer.headers["Location"], TERMINAL)
    again = _placed_once_room(http, url, order_body({"KB-MECH": 1}), {**ORCHESTRATED, **key})
    assert again.status_code == 202, again.text
    assert "Idempotent-Replayed" not in again.headers  # the refused request recorded nothing
    wait_for(http, stack.url("order") + again.headers["Location"], TERMINAL)


def _placed_once_room(
    http: httpx.Client, url: str, body: Any, headers: dict[str, str]
) -> httpx.Response:
    """A client retrying a refused 202: a saga ends just after its order's final status."""
    deadline = time.monotonic() + 10
    answer = http.post(url, json=body, headers=headers)
    while answer.status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.1)
        answer = http.post(url, json=body, headers=headers)
    return answer


def _opens_again(http: httpx.Client, url: str) -> bool:
    """The closed stream's place is given back once the server notices the hang-up."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with http.stream("GET", url) as response:
            if response.status_code == 200:
                return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize(
    ("path", "params", "headers", "status", "field"),
    [
        ("", {"wait": "soon"}, {}, 422, "wait"),
        ("", {"wait": "31s"}, {}, 422, "wait"),
        ("", {"wait": "-1"}, {}, 422, "wait"),
        ("/events", {}, {"Last-Event-ID": "abc"}, 422, "Last-Event-ID"),
    ],
)
def test_bad_waits_and_event_ids_are_refused(
    stack: Stack,
    http: httpx.Client,
    path: str,
    params: dict[str, str],
    headers: dict[str, str],
    status: int,
    field: str,
) -> None:
    order = accept(http, stack, order_body({"KB-MECH": 1})).json()
    answer = http.get(
        f"{stack.url('order')}/orders/{order['id']}{path}", params=params, headers=headers
    )
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["field"] == field


def test_an_unknown_order_has_no_stream_and_no_long_poll(stack: Stack, http: httpx.Client) -> None:
    url = f"{stack.url('order')}/orders/no-such-order"
    for answer in (http.get(f"{url}/events"), http.get(url, params={"wait": "5s"})):
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"
