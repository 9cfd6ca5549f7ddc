"""What the compose test looks at from inside the compose network, run in a container of the
project's image (`python -m tests.e2e.compose.probe`, with the locust container's environment):
every service's /ready and /metrics, RabbitMQ's management API and its queues, Locust's web UI.
Prints one JSON document; the test makes the assertions. It runs from the image's copy of the
repository (the Dockerfile's `COPY . .`), so it is always the version the image was built from."""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx

from services.kernel.broker.topology import Topology
from services.kernel.config import SERVICES, Settings


def main() -> None:
    settings = Settings.from_env()
    with httpx.Client(timeout=10.0) as http:
        report = {
            "ready": {s: _get(http, f"{settings.address(s).http_url}/ready") for s in SERVICES},
            "metrics": {s: _get(http, f"{settings.address(s).http_url}/metrics") for s in SERVICES},
            "management": _queues(http, settings),
            "expected_queues": [
                Topology(settings.broker_namespace).queue(s)
                for s in Topology(settings.broker_namespace).subscriptions
            ],
            "locust_ui": _get(http, os.environ["PROBE_LOCUST_URL"]),
        }
    print(json.dumps(report))


def _get(http: httpx.Client, url: str) -> dict[str, Any]:
    try:
        answer = http.get(url)
    except httpx.HTTPError as error:
        return {"url": url, "error": f"{type(error).__name__}: {error}"}
    return {"url": url, "status": answer.status_code, "text": answer.text[:20000]}


def _queues(http: httpx.Client, settings: Settings) -> dict[str, Any]:
    """The queues the management API lists, asked with the first of the credentials compose
    gives out that the API accepts (which users exist is compose.yaml's business)."""
    broker = urlsplit(settings.broker_url)
    vhost = quote(unquote(broker.path[1:]) or "/", safe="")  # amqp://.../%2F is "/"
    url = f"http://{broker.hostname}:15672/api/queues/{vhost}"
    tried = []
    for user, password in json.loads(os.environ["PROBE_CREDENTIALS"]):
        answer = http.get(url, auth=(user, password))
        tried.append(f"{user}: {answer.status_code}")
        if answer.status_code == 200:
            return {"url": url, "user": user, "queues": [q["name"] for q in answer.json()]}
    return {"url": url, "error": f"no credentials accepted ({', '.join(tried)})"}


if __name__ == "__main__":
    main()
