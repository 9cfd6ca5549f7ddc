"""Typed configuration, read once from the environment at start-up.

Every port and limit can be overridden by an environment variable so that tests, the demo and a
benchmark can run side by side on one machine. A bad value stops start-up with a message naming the
variable, rather than failing later in some adapter.

`Settings` is one pydantic model: each field declares its variable (its alias), its default and
its check, and the checks raise the ConfigError a user reads. The variables whose names depend on
a service (its host and ports) or whose defaults depend on another (the resilience profile's) are
composed in the model's before-validator with the same checks.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from services.kernel.contracts import LOOPBACK_HOSTS
from services.kernel.resilience.policy import PROFILES, Resilience
from services.kernel.styles import MATCH, ORCHESTRATED

SERVICES: Final = ("order", "inventory", "payment", "notification")

DEFAULT_PORTS: Final[dict[str, tuple[int, int]]] = {
    "order": (8000, 50050),
    "inventory": (8001, 50051),
    "payment": (8002, 50052),
    "notification": (8003, 50053),
}


CONTROL_OFFSET: Final = 100  # a control port is its service's HTTP port + 100 by default
MIN_TOKEN_LENGTH: Final = 16
LOG_LEVELS: Final = ("debug", "info", "warning", "error")
MAX_START_DELAY_S: Final = 600.0
BROKER_USER: Final = "ORDERFLOW_BROKER_USER"
BROKER_PASSWORD: Final = "ORDERFLOW_BROKER_PASSWORD"
MAX_CREDENTIAL_LENGTH: Final = 255
DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_BROKER_URL: Final = "amqp://guest:guest@127.0.0.1:5672/%2F"
DEFAULT_SSE_MAX_STREAMS: Final = 256
DEFAULT_MAX_SAGAS_IN_FLIGHT: Final = 256
DEFAULT_MAX_WATCHERS: Final = 1024
DEFAULT_SSE_KEEPALIVE_S: Final = 15.0


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class ServiceAddress:
    name: str
    host: str  # where the others reach it; it binds ORDERFLOW_HOST (Settings.host)
    http_port: int
    grpc_port: int
    control_port: int = 0  # the fault-control endpoint, on 127.0.0.1 (only with a token)
    # A gRPC target naming every replica (ORDERFLOW_<SERVICE>_GRPC_TARGET), balanced by the
    # client round robin; None: host:grpc_port, one connection (to one server or a proxy).
    grpc_target: str | None = None

    @property
    def http_url(self) -> str:
        return f"http://{bracketed(self.host)}:{self.http_port}"


def bracketed(host: str) -> str:
    """A host as it stands before `:port`: an IPv6 literal goes in brackets."""
    return f"[{host}]" if ":" in host else host


def port_variable(service: str, kind: str) -> str:
    """The environment variable that overrides a service's port, e.g. ORDERFLOW_ORDER_HTTP_PORT."""
    return f"ORDERFLOW_{service.upper()}_{kind.upper()}_PORT"


def host_variable(service: str) -> str:
    """The environment variable naming the host the others reach a service at, e.g.
    ORDERFLOW_INVENTORY_HOST=inventory when each service is a container of its own."""
    return f"ORDERFLOW_{service.upper()}_HOST"


def grpc_target_variable(service: str) -> str:
    """The variable giving a gRPC target for calls to a service's replicas, e.g.
    ORDERFLOW_INVENTORY_GRPC_TARGET=ipv4:127.0.0.1:50061,127.0.0.1:50071 or
    dns:///inventory:50051 (every address a name resolves to)."""
    return f"ORDERFLOW_{service.upper()}_GRPC_TARGET"


# gRPC's name syntax (github.com/grpc/grpc/blob/master/doc/naming.md), kept to what a target
# of addresses or names needs: no spaces, no quotes.
_GRPC_TARGET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/\[\],%-]{0,2047}")


def _grpc_target(key: str, value: str) -> str | None:
    if not value:
        return None
    if _GRPC_TARGET.fullmatch(value):
        return value
    raise ConfigError(
        f"{key} must be a gRPC target such as ipv4:10.0.0.1:50051,10.0.0.2:50051 or"
        f" dns:///inventory:50051, got {value!r}"
    )


def _address(env: Mapping[str, str], name: str, host: str) -> ServiceAddress:
    http_default, grpc_default = DEFAULT_PORTS[name]
    http_port: int = _get(env, port_variable(name, "http"), _port, http_default)
    return ServiceAddress(
        name=name,
        host=_get(env, host_variable(name), _host, host),
        http_port=http_port,
        grpc_port=_get(env, port_variable(name, "grpc"), _port, grpc_default),
        control_port=_get(env, port_variable(name, "control"), _port, http_port + CONTROL_OFFSET),
        grpc_target=_get(env, grpc_target_variable(name), _grpc_target, None),
    )


# A DNS name or IPv4 address (underscores too: Docker resolves service names that have them).
_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")


def _host(key: str, value: str) -> str:
    """A bare host, as it goes into URLs and gRPC targets (an IPv6 literal without brackets:
    the URLs add them). A scheme or port would make every address built from it wrong."""
    if _HOST_NAME.fullmatch(value) or _is_ipv6(value):
        return value
    raise ConfigError(
        f"{key} must be a host name or IP address (no scheme, port, brackets or spaces),"
        f" got {value!r}"
    )


def _is_ipv6(value: str) -> bool:
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return "%" not in value  # a zone id would need escaping in every URL: not worth supporting


def _resilience(env: Mapping[str, str]) -> Resilience:
    """The profile's settings, each overridable by its own variable."""
    base = PROFILES[_get(env, "ORDERFLOW_PROFILE", _choice(tuple(PROFILES)), "naive")]
    return replace(
        base,
        call_timeout_s=_get(
            env, "ORDERFLOW_CALL_TIMEOUT_S", _positive_seconds, base.call_timeout_s
        ),
        retry_attempts=_get(env, "ORDERFLOW_RETRY_ATTEMPTS", _count(low=1), base.retry_attempts),
        retry_base_s=_get(env, "ORDERFLOW_RETRY_BASE_MS", _ms_as_seconds(), base.retry_base_s),
        retry_max_s=_get(env, "ORDERFLOW_RETRY_MAX_MS", _ms_as_seconds(), base.retry_max_s),
        breaker_window=_get(env, "ORDERFLOW_BREAKER_WINDOW", _count(low=0), base.breaker_window),
        breaker_failure_rate=_get(
            env, "ORDERFLOW_BREAKER_FAILURE_RATE", _share, base.breaker_failure_rate
        ),
        breaker_reset_s=_get(
            env, "ORDERFLOW_BREAKER_RESET_S", _positive_seconds, base.breaker_reset_s
        ),
        bulkhead_limit=_get(env, "ORDERFLOW_BULKHEAD_LIMIT", _count(low=0), base.bulkhead_limit),
        bulkhead_wait_s=_get(
            env, "ORDERFLOW_BULKHEAD_WAIT_MS", _ms_as_seconds(low=0.0), base.bulkhead_wait_s
        ),
    )


def url_user(url: str) -> str | None:
    """The user an AMQP URL names (percent-decoded), None if it names none."""
    user = urlsplit(url).username
    return unquote(user) if user else None


def with_credentials(url: str, user: str, password: str) -> str:
    """`url` with `user` and `password` in place of any it carries (percent-encoded)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    login = f"{quote(user, safe='')}:{quote(password, safe='')}"
    return urlunsplit(parts._replace(netloc=f"{login}@{host}"))


def _broker_url(env: Mapping[str, str]) -> str:
    """ORDERFLOW_BROKER_URL says where the broker is; ORDERFLOW_BROKER_USER and
    ORDERFLOW_BROKER_PASSWORD, set together, say who this process is there (each service has
    its own user: docs/architecture.md §6) and replace any credentials the URL carries."""
    url = _amqp_url("ORDERFLOW_BROKER_URL", env.get("ORDERFLOW_BROKER_URL", DEFAULT_BROKER_URL))
    user, password = env.get(BROKER_USER), env.get(BROKER_PASSWORD)
    if user is None and password is None:
        return url
    if not user or not password:
        raise ConfigError(
            f"{BROKER_USER} and {BROKER_PASSWORD} go together: set both (non-empty) or neither"
        )
    for key, value in ((BROKER_USER, user), (BROKER_PASSWORD, password)):
        if len(value) > MAX_CREDENTIAL_LENGTH or not value.isprintable():
            raise ConfigError(
                f"{key} must be 1-{MAX_CREDENTIAL_LENGTH} printable characters"
            )  # the value itself stays out of the message: it may be a secret
    return with_credentials(url, user, password)


def redacted(url: str) -> str:
    """The URL with its password masked, fit for a message or a log."""
    scheme, separator, rest = url.partition("://")
    login, at, place = rest.rpartition("@")
    if not at or ":" not in login:
        return url
    return f"{scheme}{separator}{login.partition(':')[0]}:***@{place}"


# --- the checks: (variable, raw value) -> value, or a ConfigError naming the variable ---------


def _integer(upper: int) -> Callable[[str, str], int]:
    def parse(key: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{key} must be an integer, got {raw!r}") from None
        if not 0 <= value <= upper:
            raise ConfigError(f"{key} must be between 0 and {upper}, got {value}")
        return value

    return parse


_port = _integer(65535)


def _count(low: int) -> Callable[[str, str], int]:
    def parse(key: str, raw: str) -> int:
        value = _integer(10_000)(key, raw)
        if value < low:
            raise ConfigError(f"{key} must be at least {low}, got {value}")
        return value

    return parse


def _number(key: str, raw: str, what: str) -> float:
    """The variable as a number; a value that is no number names the key."""
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{key} must be {what}, got {raw!r}") from None
    if not math.isfinite(value):  # "nan" and "inf" parse, and would break every comparison
        raise ConfigError(f"{key} must be {what}, got {raw!r}")
    return value


def _positive_seconds(key: str, raw: str) -> float:
    value = _number(key, raw, "a number of seconds")
    if value <= 0:
        raise ConfigError(f"{key} must be positive, got {value}")
    return value


def _seconds_within(high: float) -> Callable[[str, str], float]:
    def parse(key: str, raw: str) -> float:
        value = _number(key, raw, "a number of seconds")
        if not 0 <= value <= high:
            raise ConfigError(f"{key} must be from 0 to {high:g} seconds, got {value:g}")
        return value

    return parse


def _share(key: str, raw: str) -> float:
    value = _number(key, raw, "a number from 0 to 1")
    if not 0 < value <= 1:
        raise ConfigError(f"{key} must be above 0 and at most 1, got {value:g}")
    return value


def _ms_as_seconds(low: float = 1.0) -> Callable[[str, str], float]:
    def parse(key: str, raw: str) -> float:
        value = _number(key, raw, "a number of milliseconds")
        if not low <= value <= 600_000:
            raise ConfigError(f"{key} must be from {low:g} to 600000 ms, got {value:g}")
        return value / 1000.0

    return parse


def _choice(choices: tuple[str, ...]) -> Callable[[str, str], str]:
    def parse(key: str, raw: str) -> str:
        value = raw.lower()
        if value not in choices:
            raise ConfigError(f"{key} must be one of {', '.join(choices)}, got {value!r}")
        return value

    return parse


def _token(key: str, raw: str) -> str | None:
    if raw and len(raw) < MIN_TOKEN_LENGTH:
        raise ConfigError(f"{key} must be at least {MIN_TOKEN_LENGTH} characters (or unset)")
    return raw or None


def default_replica_id() -> str:
    """Unique among live processes: this host and this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _replica_id(key: str, raw: str) -> str:
    if not raw or len(raw) > 128 or not raw.isprintable():
        raise ConfigError(f"{key} must be 1 to 128 printable characters")
    return raw


def _database_url(key: str, raw: str) -> str | None:
    if raw and not raw.startswith(("postgresql://", "postgres://")):
        raise ConfigError(
            f"{key} must be a postgresql:// URL (or unset, for the service's SQLite file)"
        )
    return raw or None


def _secret(key: str, raw: str) -> str:
    if len(raw) < MIN_TOKEN_LENGTH:
        raise ConfigError(f"{key} must be at least {MIN_TOKEN_LENGTH} characters")
    return raw


def _namespace(key: str, raw: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,62}", raw):
        raise ConfigError(
            f"{key} must be 1-63 lower-case letters, digits, '.', '_' or '-', got {raw!r}"
        )
    return raw


def _delays(key: str, raw: str) -> tuple[int, ...]:
    try:
        delays = tuple(int(part) for part in raw.split(","))
    except ValueError:
        raise ConfigError(f"{key} must be comma-separated milliseconds, got {raw!r}") from None
    if not delays or any(not 0 < d <= 3_600_000 for d in delays):
        raise ConfigError(f"{key} must list 1..3600000 ms per retry, got {raw!r}")
    return delays


def _hosts(key: str, raw: str) -> frozenset[str]:
    """Host names or IP literals, compared exactly (lower-case) with a callback URL's host."""
    hosts = frozenset(part.strip().lower().strip("[]") for part in raw.split(",") if part.strip())
    if not hosts or any(not re.fullmatch(r"[a-z0-9.:_-]{1,253}", host) for host in hosts):
        raise ConfigError(f"{key} must be comma-separated host names or IP literals, got {raw!r}")
    return hosts


def _amqp_url(key: str, value: str) -> str:
    if not value.startswith(("amqp://", "amqps://")):
        raise ConfigError(f"{key} must be an amqp:// or amqps:// URL, got {redacted(value)!r}")
    try:
        host = urlsplit(value).hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        host = None
    if not host:
        raise ConfigError(f"{key} must name the broker's host, got {redacted(value)!r}")
    return value


def _checked(parse: Callable[[str, str], object]) -> BeforeValidator:
    """A field's check, run on the variable's text (a default is not checked: it is right)."""

    def validate(raw: object, info: ValidationInfo) -> object:
        if not isinstance(raw, str):
            return raw
        assert info.field_name is not None
        return parse(Settings.model_fields[info.field_name].alias or info.field_name, raw)

    return BeforeValidator(validate)


Seconds = Annotated[float, _checked(_positive_seconds)]
BROKER_RETRY_DELAYS_MS: Final = (1000, 5000, 20000)
WEBHOOK_RETRY_DELAYS_MS: Final = (1000, 5000, 30000, 120000)
Delays = Annotated[tuple[int, ...], _checked(_delays)]


# --- the model -------------------------------------------------------------------------------


class Settings(BaseModel):
    """Every setting of a process, each read from its own variable (the field's alias)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    host: Annotated[str, Field(alias="ORDERFLOW_HOST")] = DEFAULT_HOST  # every service binds it
    data_dir: Annotated[Path, Field(alias="ORDERFLOW_DATA_DIR")] = Path(".orderflow")
    addresses: Mapping[str, ServiceAddress]  # composed: see _composed
    notify_timeout_s: Annotated[Seconds, Field(alias="ORDERFLOW_NOTIFY_TIMEOUT_S")] = 1.0
    max_body_bytes: Annotated[
        int, _checked(_integer(2**31)), Field(alias="ORDERFLOW_MAX_BODY_BYTES")
    ] = 65536
    log_level: Annotated[str, _checked(_choice(LOG_LEVELS)), Field(alias="ORDERFLOW_LOG_LEVEL")] = (
        "info"
    )
    downstream_style: Annotated[
        str, _checked(_choice((MATCH, *ORCHESTRATED))), Field(alias="ORDERFLOW_DOWNSTREAM_STYLE")
    ] = MATCH
    recovery_interval_s: Annotated[Seconds, Field(alias="ORDERFLOW_RECOVERY_INTERVAL_S")] = 2.0
    # With the identity's credentials in it when ORDERFLOW_BROKER_USER/_PASSWORD name one.
    broker_url: Annotated[str, _checked(_amqp_url), Field(alias="ORDERFLOW_BROKER_URL")] = (
        DEFAULT_BROKER_URL
    )
    broker_namespace: Annotated[
        str, _checked(_namespace), Field(alias="ORDERFLOW_BROKER_NAMESPACE")
    ] = "orderflow"
    broker_retry_delays_ms: Annotated[Delays, Field(alias="ORDERFLOW_BROKER_RETRY_DELAYS_MS")] = (
        BROKER_RETRY_DELAYS_MS
    )
    # The control endpoint is off without one.
    control_token: Annotated[
        str | None, _checked(_token), Field(alias="ORDERFLOW_CONTROL_TOKEN")
    ] = None
    # The service's own PostgreSQL database; its SQLite file in data_dir when unset.
    database_url: Annotated[
        str | None, _checked(_database_url), Field(alias="ORDERFLOW_DATABASE_URL")
    ] = None
    resilience: Resilience  # of the order service's downstream calls; composed: see _composed
    # A fault hook: wait this long before building or binding anything.
    start_delay_s: Annotated[
        float, _checked(_seconds_within(MAX_START_DELAY_S)), Field(alias="ORDERFLOW_START_DELAY_S")
    ] = 0.0
    # Order's open GET /orders/{id}/events streams, per process.
    sse_max_streams: Annotated[
        int, _checked(_count(low=1)), Field(alias="ORDERFLOW_SSE_MAX_STREAMS")
    ] = DEFAULT_SSE_MAX_STREAMS
    # Order's sagas in flight beyond which an order asked to be answered at once (202,
    # `flow=orchestrated`) is refused with 503: such a saga outlives its request.
    max_sagas_in_flight: Annotated[
        int, _checked(_count(low=1)), Field(alias="ORDERFLOW_MAX_SAGAS_IN_FLIGHT")
    ] = DEFAULT_MAX_SAGAS_IN_FLIGHT
    # Order's watchers (gRPC WatchOrder, GraphQL subscriptions, WebSocket pushes, long polls,
    # event streams) per process, beyond which one more is refused: each lives as long as its
    # client keeps a connection open.
    max_watchers: Annotated[int, _checked(_count(low=1)), Field(alias="ORDERFLOW_MAX_WATCHERS")] = (
        DEFAULT_MAX_WATCHERS
    )
    # A comment on an idle stream this often, for proxies.
    sse_keepalive_s: Annotated[Seconds, Field(alias="ORDERFLOW_SSE_KEEPALIVE_S")] = (
        DEFAULT_SSE_KEEPALIVE_S
    )
    # Webhooks (services/kernel/webhooks.py): the hosts a callback URL may name, the master
    # secret each customer's signing secret is derived from, and notification's retry delays.
    webhook_allowed_hosts: Annotated[
        frozenset[str], _checked(_hosts), Field(alias="ORDERFLOW_WEBHOOK_ALLOWED_HOSTS")
    ] = LOOPBACK_HOSTS
    # Set one in production.
    webhook_master_secret: Annotated[
        str, _checked(_secret), Field(alias="ORDERFLOW_WEBHOOK_SECRET")
    ] = "orderflow-development-webhook-secret"
    webhook_retry_delays_ms: Annotated[Delays, Field(alias="ORDERFLOW_WEBHOOK_RETRY_DELAYS_MS")] = (
        WEBHOOK_RETRY_DELAYS_MS
    )
    # Replicas of a service on one database (services/kernel/lease.py): who this process is in
    # the claims it takes (unique among live processes), and how long one lasts unless renewed.
    replica_id: Annotated[
        str,
        _checked(_replica_id),
        Field(alias="ORDERFLOW_REPLICA_ID", default_factory=default_replica_id),
    ]
    claim_lease_s: Annotated[Seconds, Field(alias="ORDERFLOW_CLAIM_LEASE_S")] = 10.0

    @property
    def call_timeout_s(self) -> float:
        """Each attempt of a call from order to inventory and payment (the profile's)."""
        return self.resilience.call_timeout_s

    @property
    def broker_user(self) -> str | None:
        """Who this process connects to the broker as; None when nothing names anyone."""
        return url_user(self.broker_url)

    def address(self, service: str) -> ServiceAddress:
        return self.addresses[service]

    def database_path(self, service: str) -> Path:
        return self.data_dir / f"{service}.db"

    def database_location(self, service: str) -> Path | str:
        """Where the service's store lives: its PostgreSQL URL if set, else its SQLite file."""
        return self.database_url or self.database_path(service)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings `env` (the process's environment by default) gives; ConfigError naming
        the first variable with a bad value."""
        try:
            return cls.model_validate(dict(os.environ if env is None else env))
        except ValidationError as error:
            raise _config_error(error) from None

    @model_validator(mode="before")
    @classmethod
    def _composed(cls, env: dict[str, str]) -> dict[str, object]:
        """The settings several variables make together: each service's address, the
        resilience profile with its overrides, the broker URL with this process's identity."""
        host = env.get("ORDERFLOW_HOST", DEFAULT_HOST)
        return {
            **env,
            "addresses": {name: _address(env, name, host) for name in SERVICES},
            "resilience": _resilience(env),
            "ORDERFLOW_BROKER_URL": _broker_url(env),
        }


def _config_error(error: ValidationError) -> ConfigError:
    """The ConfigError a check raised (pydantic wraps it), or one made of pydantic's words."""
    first = error.errors()[0]
    raised = first.get("ctx", {}).get("error")
    if isinstance(raised, ConfigError):
        return raised
    where = ".".join(str(part) for part in first["loc"])
    return ConfigError(f"{where}: {first['msg']}")


def _get(env: Mapping[str, str], key: str, parse: Callable[[str, str], Any], default: Any) -> Any:
    """One variable by its check, or `default` when it is unset."""
    raw = env.get(key)
    return default if raw is None else parse(key, raw)
