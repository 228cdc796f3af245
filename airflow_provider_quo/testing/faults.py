"""Fault injection: the :class:`Faults` settings and the per-request choice of a fault."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

#: Faults drawn by ``error_rate`` or scripted with ``fail_next``.
ERROR_KINDS = ("500", "502", "503", "429", "drop", "slow")
#: Misbehaviours of a server that answers but cannot be trusted (issue 10): a 200 body sent one byte every
#: ``drip_seconds``, a gzip bomb, an empty 200, a mark answered with another conversation, a 403
#: "Not Phone Number User", and listing pages with junk items or a ``data`` object.
HARDENING_KINDS = (
    "drip",
    "gzip_bomb",
    "empty_200",
    "wrong_id",
    "forbidden_number",
    "listing_junk_items",
    "listing_data_object",
)
#: Misbehaviours for a client's robustness tests (``Faults.hostile``; also usable in ``kinds``/``fail_next``).
HOSTILE_KINDS = ("malformed_json", "huge", "wrong_content_type", "html_error", *HARDENING_KINDS)
ALL_KINDS = ERROR_KINDS + HOSTILE_KINDS
#: Shapes of the body of a fault's error response.
ERROR_BODIES = ("json", "nested", "html", "empty")


@dataclass
class Faults:
    """What the simulator does wrong, on purpose. Everything is off by default.

    Random choices come from the simulator's ``random.Random(seed)``, so a run with the same seed and
    the same request order injects the same faults. A faulted request never changes any state (a
    faulted mark does not mark), except ``"slow"``, which answers normally after the delay, and
    ``"drip"``, which answers normally but one byte at a time.

    :param error_rate: fraction (0-1) of API requests answered by a fault drawn uniformly from ``kinds``.
    :param kinds: the kinds ``error_rate`` draws from: ``"500"``, ``"502"``, ``"503"``, ``"429"``,
        ``"drop"`` (close the socket without a response), ``"slow"`` (sleep ``slow_seconds`` first),
        or any hostile kind.
    :param error_body: body of fault error responses: ``"json"`` (documented shape), ``"nested"``
        (``{"error": {"message", "key", "trace"}}``), ``"html"`` (a proxy's HTML page) or ``"empty"``.
    :param retry_after: seconds sent as ``Retry-After`` on every 429 (faults and rate limit); ``None`` = no header.
    :param slow_seconds: the delay of a ``"slow"`` fault.
    :param hostile: answer *every* API request with: ``"malformed_json"`` (200, truncated JSON),
        ``"huge"`` (200, a ``huge_bytes`` JSON body), ``"wrong_content_type"`` (200, ``text/html``)
        or ``"html_error"`` (500, HTML page); ``None`` = off.
    :param huge_bytes: approximate size of a ``"huge"`` body.
    :param drip_seconds: the pause before each byte of a ``"drip"`` body.
    :param bomb_bytes: the decompressed size of a ``"gzip_bomb"`` body (256 MiB: about 255 KB on the wire).
    :param forbidden_numbers: ``PN…`` ids whose conversations answer every mark with 403 ``Not Phone
        Number User`` (code ``1001403``), after auth and the rate limit, as Quo does for a number the
        key's user may not use; the mark is not applied.
    """

    error_rate: float = 0.0
    kinds: tuple[str, ...] = ("500", "502", "503", "429", "drop")
    error_body: str = "json"
    retry_after: float | None = None
    slow_seconds: float = 2.0
    hostile: str | None = None
    huge_bytes: int = 5_000_000
    drip_seconds: float = 0.25
    bomb_bytes: int = 256 * 1024 * 1024
    forbidden_numbers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.kinds = tuple(self.kinds)
        self.forbidden_numbers = tuple(self.forbidden_numbers)
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"error_rate must be between 0 and 1, got {self.error_rate!r}")
        unknown = [kind for kind in self.kinds if kind not in ALL_KINDS]
        if unknown or (self.error_rate > 0 and not self.kinds):
            raise ValueError(f"kinds must be a non-empty subset of {ALL_KINDS}, got {self.kinds!r}")
        if self.error_body not in ERROR_BODIES:
            raise ValueError(f"error_body must be one of {ERROR_BODIES}, got {self.error_body!r}")
        if self.hostile is not None and self.hostile not in HOSTILE_KINDS:
            raise ValueError(f"hostile must be None or one of {HOSTILE_KINDS}, got {self.hostile!r}")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError(f"retry_after must be >= 0, got {self.retry_after!r}")
        if min(self.slow_seconds, self.huge_bytes, self.drip_seconds, self.bomb_bytes) < 0:
            raise ValueError("slow_seconds, huge_bytes, drip_seconds and bomb_bytes must be >= 0")


@dataclass
class _Scripted:
    kind: str
    remaining: int
    path_contains: str | None


class FaultPlan:
    """Decides, per API request, which fault (if any) answers it. Thread-safe.

    Order: a scripted fault (``fail_next``, first matching script first), then ``faults.hostile``,
    then a random draw against ``faults.error_rate``.

    :param seed: seed of the random draws.
    """

    def __init__(self, seed: int = 0) -> None:
        self._random = random.Random(seed)
        self._scripts: list[_Scripted] = []
        self._lock = threading.Lock()

    def fail_next(self, n: int, kind: str, path_contains: str | None = None) -> None:
        """Answer the next ``n`` API requests (whose path contains ``path_contains``) with ``kind``.

        :param n: how many requests.
        :param kind: a kind of :data:`ALL_KINDS`.
        :param path_contains: only requests whose raw or decoded path contains this string.
        """
        if kind not in ALL_KINDS:
            raise ValueError(f"kind must be one of {ALL_KINDS}, got {kind!r}")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n!r}")
        if n:
            with self._lock:
                self._scripts.append(_Scripted(kind, n, path_contains))

    def choose(self, faults: Faults, raw_path: str, path: str) -> str | None:
        """The fault kind for one request, or ``None`` to answer it normally.

        :param faults: the live fault settings.
        :param raw_path: the request target as received (without the query).
        :param path: the percent-decoded path.
        """
        with self._lock:
            for script in self._scripts:
                if script.path_contains is None or script.path_contains in raw_path or script.path_contains in path:
                    script.remaining -= 1
                    if not script.remaining:
                        self._scripts.remove(script)
                    return script.kind
            if faults.hostile:
                return faults.hostile
            if faults.error_rate > 0 and self._random.random() < faults.error_rate:
                return self._random.choice(faults.kinds)
        return None
