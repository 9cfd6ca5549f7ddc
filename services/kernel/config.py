"""Typed configuration, read once from the environment at start-up.

Every port and limit can be overridden by an environment variable so that tests, the demo and a
benchmark can run side by side on one machine. A bad value stops start-up with a message naming the
variable, rather than failing later in some adapter.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final
from urllib.parse import quote, unquote, urlsplit, urlunsplit

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


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class ServiceAddress:
    name: str
    host: str  # where the others reach it; it binds ORDERFLOW_HOST (Settings.host)
    http_port: int
    grpc_port: int
    control_port: int = 0  # the fault-control endpoint, on 127.0.0.1 (only with a token)

    @property
    def http_url(self) -> str:
        return f"http://{bracketed(self.host)}:{self.http_port}"


@dataclass(frozen=True)
class Settings:
    host: str  # what every service binds (0.0.0.0 in a container)
    data_dir: Path
    addresses: Mapping[str, ServiceAddress]
    notify_timeout_s: float
    max_body_bytes: int
    log_level: str
    downstream_style: str
    recovery_interval_s: float
    # With the identity's credentials in it when ORDERFLOW_BROKER_USER/_PASSWORD name one.
    broker_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    broker_namespace: str = "orderflow"
    broker_retry_delays_ms: tuple[int, ...] = (1000, 5000, 20000)
    control_token: str | None = None  # the control endpoint is off without one
    resilience: Resilience = PROFILES["naive"]  # of the order service's downstream calls
    start_delay_s: float = 0.0  # a fault hook: wait this long before building or binding anything
    sse_max_streams: int = 256  # order's open GET /orders/{id}/events streams, per process
    sse_keepalive_s: float = 15.0  # a comment on an idle stream this often, for proxies
    # Webhooks (services/kernel/webhooks.py): the hosts a callback URL may name, the master
    # secret each customer's signing secret is derived from, and notification's retry delays.
    webhook_allowed_hosts: frozenset[str] = LOOPBACK_HOSTS
    webhook_master_secret: str = "orderflow-development-webhook-secret"  # set one in production
    webhook_retry_delays_ms: tuple[int, ...] = (1000, 5000, 30000, 120000)

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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        host = env.get("ORDERFLOW_HOST", "127.0.0.1")
        resilience = _resilience(env)
        return cls(
            host=host,
            data_dir=Path(env.get("ORDERFLOW_DATA_DIR", ".orderflow")),
            addresses={name: _address(env, name, host) for name in SERVICES},
            notify_timeout_s=_positive_float(env, "ORDERFLOW_NOTIFY_TIMEOUT_S", 1.0),
            max_body_bytes=_port_like_int(env, "ORDERFLOW_MAX_BODY_BYTES", 65536, upper=2**31),
            log_level=_choice(env, "ORDERFLOW_LOG_LEVEL", "info", LOG_LEVELS),
            downstream_style=_choice(
                env, "ORDERFLOW_DOWNSTREAM_STYLE", MATCH, (MATCH, *ORCHESTRATED)
            ),
            recovery_interval_s=_positive_float(env, "ORDERFLOW_RECOVERY_INTERVAL_S", 2.0),
            broker_url=_broker_url(env, cls.broker_url),
            broker_namespace=_namespace(env, "ORDERFLOW_BROKER_NAMESPACE", cls.broker_namespace),
            broker_retry_delays_ms=_delays(
                env, "ORDERFLOW_BROKER_RETRY_DELAYS_MS", cls.broker_retry_delays_ms
            ),
            control_token=_token(env, "ORDERFLOW_CONTROL_TOKEN"),
            resilience=resilience,
            start_delay_s=_seconds_within(env, "ORDERFLOW_START_DELAY_S", 0.0, MAX_START_DELAY_S),
            sse_max_streams=_count(env, "ORDERFLOW_SSE_MAX_STREAMS", cls.sse_max_streams, low=1),
            sse_keepalive_s=_positive_float(env, "ORDERFLOW_SSE_KEEPALIVE_S", cls.sse_keepalive_s),
            webhook_allowed_hosts=_hosts(
                env, "ORDERFLOW_WEBHOOK_ALLOWED_HOSTS", cls.webhook_allowed_hosts
            ),
            webhook_master_secret=_secret(
                env, "ORDERFLOW_WEBHOOK_SECRET", cls.webhook_master_secret
            ),
            webhook_retry_delays_ms=_delays(
                env, "ORDERFLOW_WEBHOOK_RETRY_DELAYS_MS", cls.webhook_retry_delays_ms
            ),
        )


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


def _address(env: Mapping[str, str], name: str, host: str) -> ServiceAddress:
    http_default, grpc_default = DEFAULT_PORTS[name]
    http_port = _port_like_int(env, port_variable(name, "http"), http_default, upper=65535)
    return ServiceAddress(
        name=name,
        host=_host(env, host_variable(name), host),
        http_port=http_port,
        grpc_port=_port_like_int(env, port_variable(name, "grpc"), grpc_default, upper=65535),
        control_port=_port_like_int(
            env, port_variable(name, "control"), http_port + CONTROL_OFFSET, upper=65535
        ),
    )


# A DNS name or IPv4 address (underscores too: Docker resolves service names that have them).
_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")


def _host(env: Mapping[str, str], key: str, default: str) -> str:
    """A bare host, as it goes into URLs and gRPC targets (an IPv6 literal without brackets:
    the URLs add them). A scheme or port would make every address built from it wrong."""
    value = env.get(key)
    if value is None:
        return default
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
    base = PROFILES[_choice(env, "ORDERFLOW_PROFILE", "naive", tuple(PROFILES))]
    return replace(
        base,
        call_timeout_s=_positive_float(env, "ORDERFLOW_CALL_TIMEOUT_S", base.call_timeout_s),
        retry_attempts=_count(env, "ORDERFLOW_RETRY_ATTEMPTS", base.retry_attempts, low=1),
        retry_base_s=_ms(env, "ORDERFLOW_RETRY_BASE_MS", base.retry_base_s),
        retry_max_s=_ms(env, "ORDERFLOW_RETRY_MAX_MS", base.retry_max_s),
        breaker_window=_count(env, "ORDERFLOW_BREAKER_WINDOW", base.breaker_window, low=0),
        breaker_failure_rate=_share(
            env, "ORDERFLOW_BREAKER_FAILURE_RATE", base.breaker_failure_rate
        ),
        breaker_reset_s=_positive_float(env, "ORDERFLOW_BREAKER_RESET_S", base.breaker_reset_s),
        bulkhead_limit=_count(env, "ORDERFLOW_BULKHEAD_LIMIT", base.bulkhead_limit, low=0),
        bulkhead_wait_s=_ms(env, "ORDERFLOW_BULKHEAD_WAIT_MS", base.bulkhead_wait_s, low=0.0),
    )


def _count(env: Mapping[str, str], key: str, default: int, *, low: int) -> int:
    value = _port_like_int(env, key, default, upper=10_000)
    if value < low:
        raise ConfigError(f"{key} must be at least {low}, got {value}")
    return value


def _share(env: Mapping[str, str], key: str, default: float) -> float:
    value = _float(env, key, "a number from 0 to 1")
    if value is None:
        return default
    if not 0 < value <= 1:
        raise ConfigError(f"{key} must be above 0 and at most 1, got {value:g}")
    return value


def _ms(env: Mapping[str, str], key: str, default_s: float, *, low: float = 1.0) -> float:
    value = _float(env, key, "a number of milliseconds")
    if value is None:
        return default_s
    if not low <= value <= 600_000:
        raise ConfigError(f"{key} must be from {low:g} to 600000 ms, got {value:g}")
    return value / 1000.0


def _token(env: Mapping[str, str], key: str) -> str | None:
    raw = env.get(key, "")
    if raw and len(raw) < MIN_TOKEN_LENGTH:
        raise ConfigError(f"{key} must be at least {MIN_TOKEN_LENGTH} characters (or unset)")
    return raw or None


def _port_like_int(env: Mapping[str, str], key: str, default: int, *, upper: int) -> int:
    raw = env.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{key} must be an integer, got {raw!r}") from None
    if not 0 <= value <= upper:
        raise ConfigError(f"{key} must be between 0 and {upper}, got {value}")
    return value


def _positive_float(env: Mapping[str, str], key: str, default: float) -> float:
    value = _float(env, key, "a number of seconds")
    if value is None:
        return default
    if value <= 0:
        raise ConfigError(f"{key} must be positive, got {value}")
    return value


def _seconds_within(env: Mapping[str, str], key: str, default: float, high: float) -> float:
    value = _float(env, key, "a number of seconds")
    if value is None:
        return default
    if not 0 <= value <= high:
        raise ConfigError(f"{key} must be from 0 to {high:g} seconds, got {value:g}")
    return value


def _float(env: Mapping[str, str], key: str, what: str) -> float | None:
    """The variable as a number, None when unset; a value that is no number names the key."""
    raw = env.get(key)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{key} must be {what}, got {raw!r}") from None
    if not math.isfinite(value):  # "nan" and "inf" parse, and would break every comparison
        raise ConfigError(f"{key} must be {what}, got {raw!r}")
    return value


def _choice(env: Mapping[str, str], key: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(key, default).lower()
    if value not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)}, got {value!r}")
    return value


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


def _broker_url(env: Mapping[str, str], default: str) -> str:
    """ORDERFLOW_BROKER_URL says where the broker is; ORDERFLOW_BROKER_USER and
    ORDERFLOW_BROKER_PASSWORD, set together, say who this process is there (each service has
    its own user: docs/architecture.md §6) and replace any credentials the URL carries."""
    url = _amqp_url(env, "ORDERFLOW_BROKER_URL", default)
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


def _amqp_url(env: Mapping[str, str], key: str, default: str) -> str:
    value = env.get(key, default)
    if not value.startswith(("amqp://", "amqps://")):
        raise ConfigError(f"{key} must be an amqp:// or amqps:// URL, got {redacted(value)!r}")
    try:
        host = urlsplit(value).hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        host = None
    if not host:
        raise ConfigError(f"{key} must name the broker's host, got {redacted(value)!r}")
    return value


def _namespace(env: Mapping[str, str], key: str, default: str) -> str:
    value = env.get(key, default)
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,62}", value):
        raise ConfigError(
            f"{key} must be 1-63 lower-case letters, digits, '.', '_' or '-', got {value!r}"
        )
    return value


def _delays(env: Mapping[str, str], key: str, default: tuple[int, ...]) -> tuple[int, ...]:
    raw = env.get(key)
    if raw is None:
        return default
    try:
        delays = tuple(int(part) for part in raw.split(","))
    except ValueError:
        raise ConfigError(f"{key} must be comma-separated milliseconds, got {raw!r}") from None
    if not delays or any(not 0 < d <= 3_600_000 for d in delays):
        raise ConfigError(f"{key} must list 1..3600000 ms per retry, got {raw!r}")
    return delays


def _hosts(env: Mapping[str, str], key: str, default: frozenset[str]) -> frozenset[str]:
    """Host names or IP literals, compared exactly (lower-case) with a callback URL's host."""
    raw = env.get(key)
    if raw is None:
        return default
    hosts = frozenset(part.strip().lower().strip("[]") for part in raw.split(",") if part.strip())
    if not hosts or any(not re.fullmatch(r"[a-z0-9.:_-]{1,253}", host) for host in hosts):
        raise ConfigError(f"{key} must be comma-separated host names or IP literals, got {raw!r}")
    return hosts


def _secret(env: Mapping[str, str], key: str, default: str) -> str:
    value = env.get(key, default)
    if len(value) < MIN_TOKEN_LENGTH:
        raise ConfigError(f"{key} must be at least {MIN_TOKEN_LENGTH} characters")
    return value
