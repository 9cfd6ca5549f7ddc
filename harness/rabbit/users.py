"""The broker identities (docs/architecture.md §6), read from harness/rabbit/definitions.json.

That one file provisions every broker the project starts (the private node, compose's RabbitMQ):
a user per service, `client` for whoever places orders, and `admin` for operator tools (the
DLQ listing, removing a test namespace's topology). The passwords in it are documented
development secrets; a real deployment provisions its own.

Who connects as whom: a broker URL that names a user is used as it is (the machine's shared
broker takes guest/guest, a development default); a URL without one means "the project's
identities": each service its own user, a client `client`, a tool `admin`.

RabbitMQ's topic permissions name one exchange each, and a user without any for an exchange may
publish every routing key on it. So the definitions grant the resources of one namespace,
`orderflow` (what compose and `orderflow up` use), and `definitions(namespaces)` renders the
same grants for others (the tests' random namespaces on a private node).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from services.kernel.config import (
    BROKER_PASSWORD,
    BROKER_USER,
    DEFAULT_BROKER_URL,
    SERVICES,
    url_user,
    with_credentials,
)

DEFINITIONS: Final = Path(__file__).resolve().parent / "definitions.json"
NAMESPACE: Final = "orderflow"  # the namespace the definitions file grants
ADMIN: Final = "admin"
CLIENT: Final = "client"
IDENTITIES: Final = (*SERVICES, CLIENT, ADMIN)


@dataclass(frozen=True)
class Identity:
    user: str
    password: str


@functools.cache
def _file() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DEFINITIONS.read_text())
    return loaded


def identity(name: str) -> Identity:
    """The project's user `name` (a service, `client` or `admin`) and its password."""
    for user in _file()["users"]:
        if user["name"] == name:
            return Identity(user["name"], user["password"])
    raise LookupError(f"{DEFINITIONS} has no broker user {name!r}")


def as_user(url: str, name: str) -> str:
    """`url` with the credentials of the project's user `name`."""
    own = identity(name)
    return with_credentials(url, own.user, own.password)


def resolve(url: str, name: str) -> str:
    """The URL a process of role `name` connects with: `url` itself if it names a user, else
    `url` as the project's user `name`."""
    return url if url_user(url) else as_user(url, name)


def service_environment(env: Mapping[str, str], service: str) -> dict[str, str]:
    """What a service process adds to `env` to connect as its own user: nothing when `env`
    already says who it is (ORDERFLOW_BROKER_USER, or a user in ORDERFLOW_BROKER_URL)."""
    url = env.get("ORDERFLOW_BROKER_URL", DEFAULT_BROKER_URL)
    if BROKER_USER in env or url_user(url):
        return {}
    own = identity(service)
    return {BROKER_USER: own.user, BROKER_PASSWORD: own.password}


def definitions(namespaces: Iterable[str] = (NAMESPACE,)) -> dict[str, Any]:
    """The definitions file with its grants widened from `orderflow` to `namespaces`."""
    chosen = sorted(set(namespaces))
    if chosen == [NAMESPACE]:
        return _file()
    # In the file every namespaced resource is written `orderflow\.` inside a regex.
    alternatives = "|".join(re.escape(namespace) for namespace in chosen)
    rendered = dict(_file())
    rendered["permissions"] = [
        {
            key: value.replace(rf"{NAMESPACE}\.", rf"(?:{alternatives})\.")
            if key in ("configure", "write", "read")
            else value
            for key, value in grant.items()
        }
        for grant in _file()["permissions"]
    ]
    rendered["topic_permissions"] = [
        {**grant, "exchange": grant["exchange"].replace(NAMESPACE, namespace, 1)}
        for grant in _file()["topic_permissions"]
        for namespace in chosen
    ]
    return rendered
