"""How every style reports to Locust: request_type is the style, the latency runs from the due time,
a failure is one data point and then ends the task.

harness.load.report imports Locust, and importing Locust monkey-patches the standard library with
gevent (threads become greenlets, sockets and select cooperative). In the test process that comes
too late to be safe and gevent warns (MonkeyPatchWarning: ssl is already imported), which the
suite's warnings-as-errors turns into a collection error. So the checks run in one child
interpreter: SCRIPT drives the real Reporter and Restyled with a real locust EventHook whose
listener records the keyword arguments of every event, and prints what happened as JSON; the
tests below assert on that record.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.locust_child import json_from_child

SCRIPT = r'''
import json
import time

from locust.event import EventHook
from locust.exception import RescheduleTask

from harness.load.report import Reporter, Restyled


def encode(value):
    if isinstance(value, BaseException):
        return {"type": type(value).__name__, "message": str(value)}
    return value


def run(body):
    """Run one scenario against a fresh EventHook; what it fired, raised and returned."""
    hook = EventHook()
    fired = []
    hook.add_listener(lambda **kwargs: fired.append(kwargs))
    outcome = {"returned": None, "raised": None, "cause": None, "cause_is_reported": False}
    try:
        outcome["returned"] = body(hook)
    except BaseException as error:
        outcome["raised"] = encode(error)
        if error.__cause__ is not None:
            outcome["cause"] = encode(error.__cause__)
            outcome["cause_is_reported"] = any(
                event.get("exception") is error.__cause__ for event in fired
            )
    outcome["events"] = [{k: encode(v) for k, v in event.items()} for event in fired]
    return outcome


def measured_success(hook):
    started = time.time() - 0.2
    with Reporter(hook, "grpc").measure("browse_catalog", started) as measured:
        measured.length = 321
    return {"started": started, "after": time.time()}


def measured_failure(hook):
    started = time.time() - 0.05
    with Reporter(hook, "rest").measure("place_order", started) as measured:
        measured.length = 17
        raise ValueError("connection reset by peer")


def measured_reschedule(hook):
    with Reporter(hook, "rest").measure("get_order", time.time()):
        raise RescheduleTask("the task gave up on its own")


def measured_with_context(hook):
    key = {"idempotency_key": "load-7"}
    with Reporter(hook, "broker").measure("order_completed", time.time(), key):
        pass
    with Reporter(hook, "broker").measure("order_completed", time.time(), key):
        raise TimeoutError("no terminal event")


def fired_with_end(hook):
    Reporter(hook, "broker").fire("order_completed", 1000.0, 5, None, ended=1000.25)


META = {
    "request_type": "GET",
    "name": "/orders/{id}",
    "response_time": 10.0,
    "response_length": 42,
    "exception": None,
    "context": {"user": "u1"},
    "start_time": 1000.0,
    "url": "http://127.0.0.1:8000/orders/1",
    "response": None,
}


def restyled_late(hook):
    Restyled(hook, "websocket", lambda: 999.5).fire(**dict(META))


def restyled_closed(hook):
    Restyled(hook, "websocket", lambda: None).fire(**dict(META))


print(json.dumps({
    "meta": META,
    "measured_success": run(measured_success),
    "measured_failure": run(measured_failure),
    "measured_reschedule": run(measured_reschedule),
    "fired_with_end": run(fired_with_end),
    "measured_with_context": run(measured_with_context),
    "restyled_late": run(restyled_late),
    "restyled_closed": run(restyled_closed),
}))
'''


@pytest.fixture(scope="module")
def record() -> dict[str, Any]:
    recorded: dict[str, Any] = json_from_child(SCRIPT)
    return recorded


def only_event(outcome: dict[str, Any]) -> dict[str, Any]:
    events: list[dict[str, Any]] = outcome["events"]
    assert len(events) == 1, events
    return events[0]


def test_a_measured_success_reports_the_style_the_name_and_the_size(
    record: dict[str, Any],
) -> None:
    outcome = record["measured_success"]
    assert outcome["raised"] is None
    event = only_event(outcome)
    started = outcome["returned"]["started"]
    assert event["request_type"] == "grpc"
    assert event["name"] == "browse_catalog"
    assert event["exception"] is None
    assert event["start_time"] == started
    assert event["response_length"] == 321


def test_a_measured_success_is_timed_from_the_start_given(record: dict[str, Any]) -> None:
    outcome = record["measured_success"]
    event = only_event(outcome)
    started, after = outcome["returned"]["started"], outcome["returned"]["after"]
    assert 200.0 <= event["response_time"] <= (after - started) * 1000.0


def test_a_failure_inside_is_reported_once_with_its_exception_then_ends_the_task(
    record: dict[str, Any],
) -> None:
    outcome = record["measured_failure"]
    event = only_event(outcome)
    assert event["request_type"] == "rest"
    assert event["name"] == "place_order"
    assert event["exception"] == {"type": "ValueError", "message": "connection reset by peer"}
    assert event["response_length"] == 17
    assert event["response_time"] >= 50.0
    assert outcome["raised"]["type"] == "RescheduleTask"
    assert outcome["cause"] == event["exception"]
    assert outcome["cause_is_reported"], "the event should carry the very exception raised"


def test_a_reschedule_inside_passes_through_unreported(record: dict[str, Any]) -> None:
    outcome = record["measured_reschedule"]
    assert outcome["raised"] == {
        "type": "RescheduleTask",
        "message": "the task gave up on its own",
    }
    assert outcome["events"] == []


def test_fire_times_up_to_the_end_given(record: dict[str, Any]) -> None:
    event = only_event(record["fired_with_end"])
    assert event["response_time"] == pytest.approx(250.0)
    assert event["start_time"] == 1000.0
    assert (event["request_type"], event["name"]) == ("broker", "order_completed")
    assert event["response_length"] == 5
    assert event["exception"] is None


def test_restyled_times_a_late_request_from_its_due_time(record: dict[str, Any]) -> None:
    meta = record["meta"]  # started at 1000.0 and took 10 ms; it was due at 999.5
    assert only_event(record["restyled_late"]) == {
        **meta,
        "request_type": "websocket",
        "response_time": pytest.approx(meta["response_time"] + 500.0),
        "start_time": 999.5,
    }


def test_restyled_without_a_due_time_changes_only_the_request_type(
    record: dict[str, Any],
) -> None:
    event = only_event(record["restyled_closed"])
    assert event == {**record["meta"], "request_type": "websocket"}


def test_the_context_given_goes_with_success_and_failure_alike(record: dict[str, Any]) -> None:
    events = record["measured_with_context"]["events"]
    assert [event["context"] for event in events] == [{"idempotency_key": "load-7"}] * 2
    assert events[1]["exception"]["type"] == "TimeoutError"
    assert only_event(record["fired_with_end"])["context"] == {}  # none given: an empty one
