"""A fault storm: 2,000 live ids and 20 unknown ones while 20% of all requests fail transiently.

The simulator answers a random fifth of the requests with a 500, 502, 503, 429 or a dropped
connection, and the error bodies rotate through every shape Quo is known to send (documented JSON,
nested ``{"error": {...}}``, a proxy's HTML page, an empty body). The run must still mark every live
id exactly once, report the unknown ids as not found, stay green and stay within 1.3 requests per id.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator
from airflow_provider_quo.testing import ERROR_BODIES, Faults, QuoSimulator

pytestmark = pytest.mark.integration

LIVE = 2_000
UNKNOWN = 20
FAULT_RATE = 0.2
FAULT_KINDS = ("500", "502", "503", "429", "drop")
#: Requests allowed per id. With a 20% fault rate an id needs 1 / 0.8 = 1.25 attempts on average
#: (2,525 for 2,020 ids, standard deviation about 25), so 1.3 x N = 2,626 leaves four deviations.
MAX_REQUESTS_PER_ID = 1.3
#: Attempts per request for this run (the default is 6). At a 20% fault rate an id exhausts 6
#: attempts with probability 0.2**6 = 6.4e-5, i.e. a 12% chance that one of 2,020 ids fails; 10
#: attempts bring that to 0.02%. The storm tests recovery, not the retry budget (test_timeouts does).
RETRY_LIMIT = 10


class RotatingBodyFaults(Faults):
    """:class:`Faults` whose error body shape rotates json -> nested -> html -> empty on every fault response.

    The simulator reads ``error_body`` once per injected error response, so ``served`` counts how
    many fault responses went out in each shape.
    """

    def __init__(self, **kwargs: Any) -> None:
        self._lock = threading.Lock()
        self._bodies = itertools.cycle(ERROR_BODIES)
        self.served: Counter[str] = Counter()
        super().__init__(**kwargs)
        self.served.clear()  # __post_init__ read it once to validate it

    @property  # type: ignore[override]
    def error_body(self) -> str:
        with self._lock:
            body = next(self._bodies)
            self.served[body] += 1
            return body

    @error_body.setter
    def error_body(self, value: str) -> None:  # the dataclass __init__ assigns it; the rotation wins
        pass


def test_fault_storm_marks_every_live_id_once_within_budget(
    connect: Callable[..., None], context: dict[str, Any], no_retry_sleep: list[float]
) -> None:
    with QuoSimulator(api_key="storm-key-4f1c", conversations=2_200, seed=11) as sim:
        live = sim.conversation_ids(deleted=False)[:LIVE]
        assert len(live) == LIVE
        unknown = [f"CNunknown{n:04d}" for n in range(UNKNOWN)]
        ids = live + unknown
        connect(sim, retry_limit=RETRY_LIMIT)
        faults = RotatingBodyFaults(error_rate=FAULT_RATE, kinds=FAULT_KINDS)
        sim.faults = faults
        operator = MarkConversationReadOperator(task_id="storm", conversation_ids=ids)

        summary = operator.execute(context)  # green: no exception

        # The outcome.
        assert summary["requested"] == LIVE + UNKNOWN
        assert summary["marked_count"] == LIVE
        assert sorted(summary["marked"]) == sorted(live)
        assert summary["not_found_count"] == UNKNOWN
        assert sorted(summary["not_found"]) == unknown
        assert (summary["failed_count"], summary["failed"], summary["not_attempted_count"]) == (0, {}, 0)
        json.dumps(summary)  # a plain-JSON XCom
        pushed = [(c.kwargs["key"], c.kwargs["value"]) for c in context["ti"].xcom_push.call_args_list]
        assert pushed == [], "nothing pushed: the summary is the return value, stored once by Airflow"

        # The simulator's side: every live id read, each by exactly one successful call.
        assert sim.read_ids() == set(live)
        assert Counter(sim.state(cid)["mark_calls"] for cid in live) == Counter({1: LIVE})

        # The storm really happened, in every kind and every body shape.
        records = sim.requests
        faulted = Counter(r.fault for r in records if r.fault)
        assert set(faulted) == set(FAULT_KINDS)
        assert sum(faulted.values()) >= 0.15 * len(records)
        assert sim.request_count(status=404) == UNKNOWN
        assert sim.request_count(status=200) == LIVE
        error_responses = sum(n for kind, n in faulted.items() if kind != "drop")
        assert sum(faults.served.values()) == error_responses
        assert set(faults.served) == set(ERROR_BODIES)
        assert min(faults.served.values()) >= 50

        # Every faulted request was retried once (none ran out of attempts), and no more was sent.
        assert len(no_retry_sleep) == sum(faulted.values())
        assert len(records) == LIVE + UNKNOWN + sum(faulted.values())
        assert len(records) <= MAX_REQUESTS_PER_ID * (LIVE + UNKNOWN)
        assert {r.raw_path.rsplit("/", 1)[-1] for r in records} == {"mark-as-read"}
