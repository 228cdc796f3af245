"""Settings of one Quo connection: key, base URL, timeouts, throttle rate and backend, and retry limit."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from urllib3.util import parse_url

from airflow_provider_quo.exceptions import QuoError
from airflow_provider_quo.redaction import redact_url

DEFAULT_BASE_URL = "https://api.quo.com"
DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_REQUESTS_PER_SECOND = 10.0
#: Attempts per request (the first one included) unless the connection or hook says otherwise.
DEFAULT_RETRY_LIMIT = 6

#: Connection extras the hook reads (each declared as a ``conn-field`` in the provider info).
CONNECTION_EXTRAS = ("timeout", "connect_timeout", "retry_limit", "requests_per_second", "rate_limit_url")
#: Schemes ``rate_limit_url`` accepts.
RATE_LIMIT_SCHEMES = ("redis", "rediss")


def positive_number(value: Any, name: str) -> float | None:
    """A positive, finite number from a number or a string (extras and templates give strings).

    :param value: the value; ``None``, ``""`` and ``"None"`` mean unset and give ``None``.
    :param name: what the value is, for the error message.
    :raises ValueError: naming the value, if it is not a positive, finite number (bools included).
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    try:
        number = math.nan if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not 0 < number < math.inf:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return number


def is_loopback(hostname: str) -> bool:
    """Whether ``hostname`` is localhost or a loopback address (where plain http is allowed)."""
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def base_url_from_host(host: str | None, port: int | None = None) -> str:
    """The API root from a connection host given with or without scheme (default ``https://api.quo.com``).

    Plain ``http`` is refused except on loopback (a local simulator): the key would travel in clear.

    :param host: the connection's host field.
    :param port: the connection's port field, if the host has none.
    :raises ValueError: for a scheme other than https, or http to a non-loopback host.
    """
    url = (host or "").strip().rstrip("/")
    if not url:
        return DEFAULT_BASE_URL
    if "://" not in url:
        url = f"https://{url}"
    if port and url.count(":") == 1:
        url = f"{url}:{port}"
    if "\\" in url:
        raise ValueError(f"Refusing base URL {url!r}: it contains a backslash")
    parts = parse_url(url)  # how requests itself will read it
    scheme = (parts.scheme or "").lower()
    if scheme != "https" and not (scheme == "http" and is_loopback(parts.host or "")):
        raise ValueError(
            f"Refusing base URL {url!r}: use https (plain http is allowed only on 127.0.0.1/localhost), "
            "or the API key would travel unencrypted"
        )
    return url


def rate_limit_url(value: Any, conn_id: str) -> str | None:
    """The ``rate_limit_url`` extra of connection ``conn_id``, checked: ``redis://[:password@]host[:port][/db]``
    or ``rediss://...``; ``None`` when unset (``None`` or blank: the budget is shared on this host only).

    :raises ValueError: naming the value (password masked) if it is not such a URL.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    url = value.strip() if isinstance(value, str) else repr(value)
    shown = redact_url(url) if isinstance(value, str) else url
    problem = f"Connection {conn_id!r}: rate_limit_url {shown!r} is not a redis:// or rediss:// URL"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(f"{problem} (bad port)") from None
    if not isinstance(value, str) or parts.scheme.lower() not in RATE_LIMIT_SCHEMES:
        raise ValueError(f"{problem}; supported schemes: {', '.join(RATE_LIMIT_SCHEMES)}")
    if not parts.hostname or (port is not None and not 0 < port < 65536):
        raise ValueError(f"{problem} (give a host, e.g. redis://redis.example:6379/0)")
    if parts.path.strip("/") and not parts.path.strip("/").isdigit():
        raise ValueError(f"{problem} (the path must be a database number, e.g. /0)")
    return url


@dataclass(frozen=True)
class QuoSettings:
    """What a :class:`~airflow_provider_quo.hooks.quo.QuoHook` needs from its connection.

    The API key is excluded from ``repr()``.
    """

    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_TIMEOUT
    requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND
    retry_limit: int = DEFAULT_RETRY_LIMIT
    #: This task's cap on its share of the key's budget (a hook's or operator's ``requests_per_second``).
    task_requests_per_second: float | None = None
    #: Redis URL that shares the budget across hosts; its password is masked in ``repr()``.
    rate_limit_url: str | None = field(default=None, repr=False)
    #: Whether the connection sets ``requests_per_second`` (a ceiling); if not, the server's statement rules.
    requests_per_second_set: bool = True

    @property
    def secrets(self) -> tuple[str, ...]:
        """What the secret masker must hide: the API key, and ``rate_limit_url`` with its password."""
        url = self.rate_limit_url
        password = urlsplit(url).password if url else None
        return tuple(secret for secret in (self.api_key, url, password) if secret)

    @classmethod
    def from_connection(cls, connection: Any, conn_id: str, **overrides: float | None) -> QuoSettings:
        """Read the settings from an Airflow connection; ``overrides`` (not ``None``) win over extras.

        :param connection: the Airflow connection.
        :param conn_id: its id, for error messages.
        :param overrides: ``timeout``, ``connect_timeout``, ``retry_limit`` or ``requests_per_second`` (which
            caps this task's share; the extra ``requests_per_second`` stays the key's budget).
        :raises QuoError: if the connection has no API key.
        :raises ValueError: naming the extra, if a number is not a positive number or
            ``rate_limit_url`` is not a Redis URL.
        """
        api_key = (connection.password or "").strip()
        if not api_key:
            raise QuoError(f"Connection {conn_id!r} has no API key: put the Quo API key in its password field")
        if not api_key.isprintable() or " " in api_key:
            raise QuoError(f"Connection {conn_id!r}: the API key contains spaces or control characters")
        extras = dict(connection.extra_dejson or {})

        def number(name: str, override: float | None = None) -> float | None:
            """The override if given, else the extra ``name``; ``None`` if neither is set (never 0)."""
            value = extras.get(name) if override is None else override
            return positive_number(value, f"Connection {conn_id!r}: {name}")

        key_rate = number("requests_per_second")  # the key's budget; a hook's own only caps this task's share
        task_rate = overrides.get("requests_per_second")
        return cls(
            api_key=api_key,
            base_url=base_url_from_host(connection.host, connection.port),
            connect_timeout=number("connect_timeout", overrides.get("connect_timeout")) or DEFAULT_CONNECT_TIMEOUT,
            read_timeout=number("timeout", overrides.get("timeout")) or DEFAULT_TIMEOUT,
            requests_per_second=key_rate or DEFAULT_REQUESTS_PER_SECOND,
            retry_limit=max(1, int(number("retry_limit", overrides.get("retry_limit")) or DEFAULT_RETRY_LIMIT)),
            task_requests_per_second=positive_number(task_rate, f"Connection {conn_id!r}: requests_per_second"),
            rate_limit_url=rate_limit_url(extras.get("rate_limit_url"), conn_id),
            requests_per_second_set=key_rate is not None,
        )
