"""The key's budget as the server states it, learnt from its responses and shared like the pacing itself.

:class:`StatedBudget` is the state every backend keeps beside its :class:`~.pacing.Pacing` (in the
process, the host's state file, or Redis), in that backend's clock:

- **the limit**: the stated policy's ``q / w``, used while the server keeps stating it (forgotten
  :data:`LIMIT_TTL_SECONDS` after the last statement, then the connection's number again);
- **what others spend**: from the remaining count ``r`` of consecutive responses in one window.
  Between two observations the key's count fell by ``r_before - r_after``, of which one request is
  the response's own; the rest was spent by another client. These samples (and the time they span)
  are summed with an exponential decay (:data:`OTHERS_TAU_SECONDS`), so the estimate follows another
  client that starts or stops within seconds. Responses that arrive out of order within a window cancel
  out (the count only ever takes the window's lowest ``r``); the window's end, or a rise in ``r`` past
  :data:`REORDER_SLACK` or to ``q - 1`` (what a new window shows after one request: with a small quota a
  rise by one is no reorder) starts a new window, whose first observation is not a sample;
- **an empty window**: ``r = 0`` pauses the key until the window resets: ``t`` seconds, or sooner when
  the window is known to end sooner (the windows' edges are learnt as they pass). So does an ``r`` other
  clients will most likely spend before the key's next request is counted (their rate times the time to
  that request, :data:`SPENT_BY_OTHERS_MARGIN`): at ``r = 1`` while another client spends as much as this
  process, the next request would draw a 429 about as often as not.

:meth:`StatedBudget.key_rate` turns that into the rate to pace at. Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
import struct
from dataclasses import astuple, dataclass

from airflow_provider_quo.hooks.ratelimit_headers import Reading

#: A stated limit is forgotten this long after the server last stated it.
LIMIT_TTL_SECONDS = 300.0
#: Time constant of the estimate of what other clients spend.
OTHERS_TAU_SECONDS = 3.0
#: The estimate needs samples spanning this long (a window) before it counts: shorter ones are mostly noise
#: (our own requests in flight), and until then ``r = 0`` stops the key in time.
OTHERS_MIN_SPAN_SECONDS = 1.0
#: ... but whether a window's last few ``r`` will be gone before the key's next request is judged on samples
#: spanning this long already: in the first window another client is otherwise seen only by its 429s.
OTHERS_FIRST_GUESS_SECONDS = 0.3
#: Pace at this share of the server's rate (less what others spend): exactly a fixed window's limit still
#: draws 429s, as requests drift across the window's edge.
SAFETY = 0.99
#: Never pace below this share of the stated limit (so the estimate keeps being corrected).
MIN_SHARE = 0.05
#: An ``r`` at most this much higher than the window's lowest is a reordered response, not a new window.
REORDER_SLACK = 1.0
#: The window counts as spent when fewer than this many of its ``r`` are left once other clients have spent
#: what they most likely will before the key's next request (half a request: the likelier outcome).
SPENT_BY_OTHERS_MARGIN = 0.5

_RECORD = struct.Struct("<7d")


@dataclass
class StatedBudget:
    """What the server said about the key's budget, in the backend's clock (seconds).

    :param limit: the stated rate ``q / w`` (0: none stated).
    :param limit_at: when it was last stated.
    :param lowest: the lowest ``r`` seen in the current window (-1: none).
    :param seen_at: when the last ``r`` was seen.
    :param window_end: the latest the current window can end.
    :param others: requests other clients spent (decayed sum of samples).
    :param span: seconds those samples span (decayed alike).
    """

    limit: float = 0.0
    limit_at: float = -math.inf
    lowest: float = -1.0
    seen_at: float = -math.inf
    window_end: float = -math.inf
    others: float = 0.0
    span: float = 0.0

    # -- storage -------------------------------------------------------------------------------

    SIZE = _RECORD.size

    def pack(self) -> bytes:
        """The record as bytes (the host backend's state file)."""
        return _RECORD.pack(*astuple(self))

    @classmethod
    def unpack(cls, raw: bytes) -> StatedBudget:
        """A record from :meth:`pack`'s bytes; a fresh one if they are short or not finite where they must be.

        :param raw: the bytes.
        """
        if len(raw) < cls.SIZE:
            return cls()
        budget = cls(*_RECORD.unpack(raw[: cls.SIZE]))
        values = (budget.limit, budget.others, budget.span, budget.lowest)
        return budget if all(math.isfinite(v) and v >= -1 for v in values) else cls()

    def as_fields(self) -> dict[str, str]:
        """The record as a Redis hash."""
        return {name: repr(value) for name, value in zip(_FIELDS, astuple(self), strict=True)}

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> StatedBudget:
        """A record from :meth:`as_fields` (a fresh one where a field is missing or unreadable).

        :param fields: the hash, names and values as strings.
        """
        try:
            return cls(*(float(fields.get(name, default)) for name, default in zip(_FIELDS, _DEFAULTS, strict=True)))
        except ValueError:
            return cls()

    # -- learning ------------------------------------------------------------------------------

    def observe(self, reading: Reading, now: float, *, counted: bool = True) -> float:
        """Learn from one response; return how long the key must pause (0: no pause).

        :param reading: what the response stated.
        :param now: when it arrived.
        :param counted: whether the server counted the request itself (not a 429).
        """
        if reading.policy is not None:
            self.limit, self.limit_at = reading.policy.rate, now
        remaining = reading.remaining
        if remaining is None:
            return 0.0
        window = reading.policy.window if reading.policy is not None else math.inf
        decay = math.exp(-max(0.0, now - self.seen_at) / OTHERS_TAU_SECONDS) if self.seen_at > -math.inf else 0.0
        if self._same_window(reading, remaining, now):
            spent = self.lowest - min(self.lowest, remaining)
            self.others = max(0.0, self.others * decay + spent - (1.0 if counted else 0.0))
            self.span = self.span * decay + (now - self.seen_at)
            self.lowest = min(self.lowest, remaining)
        else:
            self.lowest = remaining
            self.window_end = self._next_window_end(now, reading.reset, window)
        self.seen_at = now
        if reading.reset and remaining - self._others_before_next(now) < SPENT_BY_OTHERS_MARGIN:
            return max(0.0, min(reading.reset, self.window_end - now))
        return 0.0

    def _others_before_next(self, now: float) -> float:
        """How many requests other clients most likely spend before the key's next one: their rate over the
        rate this budget leaves the key (0 while either is unknown)."""
        stated, others = self.stated_limit(now), self.others_rate(OTHERS_FIRST_GUESS_SECONDS)
        if stated is None or others <= 0:
            return 0.0
        return others / (max(stated - others, stated * MIN_SHARE) * SAFETY)

    def _same_window(self, reading: Reading, remaining: float, now: float) -> bool:
        """Whether ``remaining`` belongs to the window seen last: it has not ended, ``r`` did not rise by
        more than :data:`REORDER_SLACK` (a reordered response), and ``r`` is below ``q - 1``: that is what
        a new window shows after one request (with a small quota a rise by one is no reorder, and two
        responses cannot both show it in one window)."""
        if self.lowest < 0 or now >= self.window_end:
            return False
        if reading.policy is not None and remaining >= reading.policy.quota - 1:
            return False
        return remaining <= self.lowest + REORDER_SLACK

    def _next_window_end(self, now: float, reset: float | None, window: float) -> float:
        """The latest the window seen first at ``now`` can end: ``now + t`` (``t`` is rounded up to whole
        seconds), ``now + w``, or, for windows that follow each other, the last window's end plus whole
        windows, whichever is earliest: so the estimate of the windows' edges gets sharper as windows pass."""
        end = now + min(reset if reset is not None else window, window)
        if math.isfinite(window) and math.isfinite(self.window_end) and self.window_end <= now:
            chained = self.window_end + math.ceil((now - self.window_end) / window) * window
            if now < chained < end:
                end = chained
        return end

    # -- the rate ------------------------------------------------------------------------------

    def stated_limit(self, now: float) -> float | None:
        """The server's limit in requests per second, while it is recent; else ``None``.

        :param now: the backend's clock.
        """
        return self.limit if self.limit > 0 and now - self.limit_at < LIMIT_TTL_SECONDS else None

    def others_rate(self, min_span: float = OTHERS_MIN_SPAN_SECONDS) -> float:
        """Requests per second other clients of the key spend, as estimated (0 until enough is seen).

        :param min_span: the seconds the samples must span to count.
        """
        return self.others / self.span if self.span >= min_span else 0.0

    def key_rate(self, now: float, *, configured: float, ceiling: bool) -> float:
        """The rate to pace this key at.

        :param now: the backend's clock.
        :param configured: the connection's ``requests_per_second`` (or the default, 10).
        :param ceiling: whether the user set it: then no statement lifts it, and it is used as set while
            the server leaves room for it.
        """
        stated = self.stated_limit(now)
        base = stated if stated is not None else configured
        others = self.others_rate()
        room = base - others
        if ceiling and configured <= room:
            return configured
        if stated is not None or others > 0:
            room *= SAFETY
        return max(base * MIN_SHARE, min(room, configured) if ceiling else room)


_FIELDS = ("limit", "limit_at", "lowest", "seen_at", "window_end", "others", "span")
_DEFAULTS = tuple(repr(value) for value in astuple(StatedBudget()))
