"""The WebSocket and broker users' clients cooperate under Locust's gevent (checked, not
assumed): ten users waiting at once on slow answers wait side by side, not one after another.

Locust monkey-patches the standard library when imported, so the users run in a child process
(as they do under `locust`); the slow peers run here, in plain threads."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pika.exceptions
import pytest
from websockets.sync.server import Server, ServerConnection, serve

from harness.rabbit.admin import channel

URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
USERS = 10
DELAY_S = 0.5  # each answer takes this long: ten in a row would take 5 s

CHILD = textwrap.dedent(
    """
    import locust  # patches the standard library for gevent, as under `locust`
    import json, sys, time, uuid
    import gevent, pika
    from websockets.sync.client import connect

    ws_url, amqp_url, users, delay = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])

    def ws_user(i):
        with connect(ws_url, proxy=None) as socket:
            socket.send(str(i))
            return socket.recv(timeout=30)

    def broker_user(queue):
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        ch = connection.channel()
        ch.queue_declare(queue, exclusive=True)
        for method, _, body in ch.consume(queue, auto_ack=True, inactivity_timeout=30):
            connection.close()
            return body and body.decode()

    def late_publisher(queues):
        gevent.sleep(delay)  # the users are all waiting by now, if they let each other run
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        ch = connection.channel()
        for queue in queues:
            ch.basic_publish("", queue, queue.encode())
        connection.close()

    started = time.time()
    answers = [job.get() for job in [gevent.spawn(ws_user, i) for i in range(users)]]
    ws_s = time.time() - started

    queues = [f"gevent-check-{uuid.uuid4().hex}" for _ in range(users)]
    started = time.time()
    jobs = [gevent.spawn(broker_user, q) for q in queues] + [gevent.spawn(late_publisher, queues)]
    gevent.joinall(jobs, raise_error=True)
    broker_s = time.time() - started
    got = [job.value for job in jobs[:users]]
    print(json.dumps({"ws_s": ws_s, "answers": answers, "broker_s": broker_s,
                      "delivered": got == queues}))
    """
)


@pytest.fixture
def slow_ws_server() -> Iterator[str]:
    def answer_slowly(socket: ServerConnection) -> None:
        for message in socket:
            time.sleep(DELAY_S)
            socket.send(message)

    server: Server = serve(answer_slowly, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_ten_users_wait_on_slow_answers_side_by_side(slow_ws_server: str) -> None:
    try:
        with channel(URL):
            pass
    except pika.exceptions.AMQPConnectionError:
        pytest.fail(f"this test needs RabbitMQ at {URL} (guest/guest); it does not answer")
    done = subprocess.run(
        [sys.executable, "-c", CHILD, slow_ws_server, URL, str(USERS), str(DELAY_S)],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(result["answers"]) == sorted(str(i) for i in range(USERS))
    assert result["delivered"]
    # Side by side: about one delay each, far from the ten in a row that blocking would take.
    assert result["ws_s"] < USERS * DELAY_S / 2, result
    assert result["broker_s"] < USERS * DELAY_S / 2, result
