"""The marking checkpoint without Airflow: encoding, size, save frequency and the retry's plan."""

from __future__ import annotations

import json
import random
from typing import Any
from unittest import mock

import pytest

from airflow_provider_quo.exceptions import (
    QuoAuthenticationError,
    QuoBadRequestError,
    QuoConnectionError,
    QuoNotFoundError,
    QuoNotSentError,
    QuoPermissionError,
    QuoServerError,
    QuoTLSError,
    QuoUnexpectedResponseError,
)
from airflow_provider_quo.operators._summary import MARKED, NOT_FOUND, Failure, MarkSummary
from airflow_provider_quo.operators.checkpoint import (
    CHECKPOINT_KEY,
    CHECKPOINT_SECONDS,
    MAX_REASONS,
    Checkpointer,
    Progress,
    decode,
    digest,
    encode,
    pack,
    unpack,
)

IDS = [f"CN{n:06d}" for n in range(300)]
FORBIDDEN = Failure("Quo API 403 Not Phone Number User", "403", 403)
OUTAGE = Failure("Quo API 503 Service Unavailable", "5xx", 503)


class DictStore:
    """A task_state_store stand-in that keeps values as JSON text, as the metadata DB does."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.sets = 0

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    def set(self, key: str, value: Any) -> None:
        self.sets += 1
        self.values[key] = json.dumps(value)

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def checkpointer(
    store: DictStore, ids: list[str] = IDS, *, series: int = 1, try_number: int = 1
) -> tuple[Checkpointer, Clock, mock.MagicMock]:
    clock, log = Clock(), mock.MagicMock()
    return Checkpointer(store, ids, series=series, try_number=try_number, log=log, clock=clock), clock, log


def logged(log: mock.MagicMock, level: str = "info") -> list[str]:
    return [c.args[0] % c.args[1:] for c in getattr(log, level).call_args_list]


@pytest.mark.parametrize("indices", [[], [0], [5, 6, 7, 99], list(range(1000)), [3, 1_000_000]])
def test_pack_round_trips_sorted_indices(indices: list[int]) -> None:
    assert unpack(pack(reversed(indices))) == indices


def test_out_of_order_outcomes_advance_the_position_only_over_a_settled_prefix() -> None:
    progress = Progress("d", 10, 1, 1, 1)
    for index in (2, 0, 3):
        progress.settle(index, MARKED)
    assert (progress.position, progress.ahead) == (1, {2, 3})
    progress.settle(1, NOT_FOUND)
    assert (progress.position, progress.ahead, progress.not_found) == (4, set(), {1})
    progress.settle(1, MARKED)  # a retry sent it again
    assert progress.not_found == set()


def test_encode_decode_round_trip_through_json() -> None:
    progress = Progress(digest(IDS), 300, 2, 1, 3)
    for index in [*range(150), 160, 170]:
        progress.settle(index, MARKED)
    progress.settle(7, NOT_FOUND)
    progress.settle(8, FORBIDDEN)
    progress.settle(160, OUTAGE)
    back = decode(json.loads(json.dumps(encode(progress))))
    assert back == progress


def test_checkpoint_of_100000_ids_is_small_whatever_the_outcomes() -> None:
    ids = 100_000
    all_marked = Progress("d" * 64, ids, 1, 1, 1)
    for index in range(ids):
        all_marked.settle(index, MARKED)
    assert len(json.dumps(encode(all_marked))) < 1_000

    rng = random.Random(7)
    mixed = Progress("d" * 64, ids, 1, 1, 1)
    order = list(range(ids))
    for start in range(0, ids, 20):  # 20 calls in flight complete in any order
        chunk = order[start : start + 20]
        rng.shuffle(chunk)
        for index in chunk[:-3] if start == ids - 20 else chunk:
            draw = rng.random()
            result = MARKED if draw < 0.6 else NOT_FOUND if draw < 0.65 else None
            result = result or Failure(f"Quo API 403 Not Phone Number User (trace {index})", "403", 403)
            mixed.settle(index, result)
    encoded = encode(mixed)
    size = len(json.dumps(encoded))
    assert len(mixed.failed) > 30_000
    assert len(mixed.not_found) > 4_000
    assert mixed.ahead
    assert size < 100_000, size  # about 70 KB: no megabytes
    assert len(encoded["failed"]) == MAX_REASONS + 1  # 50 reasons word for word, the rest by status only
    back = decode(encoded)
    assert (back.position, back.ahead, back.not_found, set(back.failed)) == (
        mixed.position,
        mixed.ahead,
        mixed.not_found,
        set(mixed.failed),
    )
    assert {(f.kind, f.status) for f in back.failed.values()} == {("403", 403)}
    assert sum("reason in that try's log" in f.reason for f in back.failed.values()) > 29_000


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (None, MARKED),
        (QuoNotSentError("not sent"), None),
        (QuoNotFoundError(status=404, title="Not Found"), NOT_FOUND),
        (
            QuoServerError(status=503, title="Service Unavailable"),
            Failure("Quo API 503 Service Unavailable", "5xx", 503),
        ),
        (
            QuoServerError(status=501, title="Not Implemented"),
            Failure("Quo API 501 Not Implemented", "5xx_permanent", 501),
        ),
        (QuoBadRequestError(status=400, title="Bad Request"), Failure("Quo API 400 Bad Request", "400", 400)),
        (QuoUnexpectedResponseError(status=200, title="OK"), Failure("Quo API 200 OK", "unexpected_response", 200)),
        (QuoConnectionError("dropped"), Failure("dropped", "connection")),
        (QuoTLSError("bad cert"), Failure("bad cert", "tls")),
    ],
)
def test_an_outcome_keeps_the_kind(error: BaseException | None, expected: Any) -> None:
    assert MarkSummary("read", 1).record("CN1", error) == expected


def result_of(error: BaseException, *, fail_on_not_found: bool) -> Any:
    return MarkSummary("read", 1, fail_on_not_found=fail_on_not_found).record("CN1", error)


def test_the_outcome_of_a_404_with_on_not_found_fail_and_of_403_and_401() -> None:
    assert result_of(QuoNotFoundError(status=404, title="Not Found"), fail_on_not_found=True) == Failure(
        "Quo API 404 Not Found", "404", 404
    )
    forbidden = result_of(QuoPermissionError(status=403, title="Forbidden"), fail_on_not_found=False)
    assert forbidden == Failure("Quo API 403 Forbidden: the key's user is not a user of this phone number", "403", 403)
    unauthorized = result_of(QuoAuthenticationError(status=401, title="Unauthorized"), fail_on_not_found=False)
    assert isinstance(unauthorized, Failure)
    assert unauthorized.kind == "401"


def test_saves_about_every_second_never_per_request() -> None:
    assert CHECKPOINT_SECONDS == 1.0
    store = DictStore()
    points, clock, _ = checkpointer(store)
    for cid in IDS[:100]:  # 100 outcomes within the same second: no write
        points.settled(cid, MARKED)
    assert store.sets == 0
    clock.now += CHECKPOINT_SECONDS - 0.01
    points.settled(IDS[100], MARKED)
    assert store.sets == 0
    clock.now += 0.01
    points.settled(IDS[101], MARKED)
    assert store.sets == 1
    assert decode(store.get(CHECKPOINT_KEY)).position == 102
    clock.now += 5 * CHECKPOINT_SECONDS  # a quiet spell (a long Retry-After): nothing settled, nothing written
    assert store.sets == 1
    points.settled(IDS[102], None)  # not sent: nothing to record
    assert store.sets == 1
    points.settled(IDS[103], MARKED)
    assert store.sets == 2
    assert decode(store.get(CHECKPOINT_KEY)).settled() == set(range(102)) | {103}


def run_first_try(store: DictStore) -> None:
    """Try 1 settles ids 0-149 (7 not found, 8 forbidden, 9 and 10 an outage) and 160, then dies."""
    points, _, _ = checkpointer(store)
    for index in [*range(150), 160]:
        result = {7: NOT_FOUND, 8: FORBIDDEN, 9: OUTAGE, 10: OUTAGE}.get(index, MARKED)
        points.settled(IDS[index], result)
    points.save()


def test_a_retry_skips_what_earlier_tries_settled_and_resends_failures_of_kinds_resent() -> None:
    store = DictStore()
    run_first_try(store)
    points, _, log = checkpointer(store, try_number=2)
    skip, prior = points.resume()
    assert skip == (set(range(150)) | {160}) - {9, 10}
    assert logged(log) == ["resuming: 149 of 300 settled by try 1; 2 failed id(s) sent again"]
    outcomes = dict(prior)
    assert list(outcomes) == [IDS[index] for index in sorted(skip)], "in input order"
    assert [cid for cid, result in prior if result == NOT_FOUND] == [IDS[7]]
    assert [(cid, result) for cid, result in prior if isinstance(result, Failure)] == [(IDS[8], FORBIDDEN)]
    assert sum(result == MARKED for _, result in prior) == 147
    points.settled(IDS[9], MARKED)
    points.save()
    third, _, log = checkpointer(store, try_number=3)
    skip, _ = third.resume()
    assert skip == (set(range(150)) | {160}) - {10}
    assert logged(log) == ["resuming: 150 of 300 settled by tries 1-2"], "10 is unsettled, no longer a failure"


def test_a_cleared_task_resends_every_failure_even_if_killed_before_they_settle() -> None:
    store = DictStore()
    run_first_try(store)
    points, _, log = checkpointer(store, series=3, try_number=2)  # clearing raised max_tries
    skip, prior = points.resume()
    assert skip == (set(range(150)) | {160}) - {8, 9, 10}
    assert "the task was cleared" in logged(log)[0]
    assert not [result for _, result in prior if isinstance(result, Failure)]
    points.save()  # killed again before 8, 9 and 10 got an answer
    again, _, _ = checkpointer(store, series=3, try_number=3)
    skip, _ = again.resume()
    assert {8, 9, 10}.isdisjoint(skip)


def test_other_ids_start_over_and_say_so() -> None:
    store = DictStore()
    run_first_try(store)
    points, _, log = checkpointer(store, [*IDS[:-1], "CNother"], try_number=2)
    assert points.resume() == (set(), mock.ANY)
    assert logged(log, "warning") == [
        "the checkpoint of try 1 belongs to other ids (300 then, 300 now: did upstream re-run?): starting over"
    ]
    assert points.progress.position == 0


@pytest.mark.parametrize("value", ["garbage", {"format": 99}, {"format": 1}, {"format": 1, "tries": [1]}])
def test_an_unreadable_checkpoint_starts_over(value: Any) -> None:
    store = DictStore()
    store.set(CHECKPOINT_KEY, value)
    points, _, log = checkpointer(store, try_number=2)
    skip, prior = points.resume()
    assert (skip, prior) == (set(), [])
    assert "unreadable checkpoint" in logged(log, "warning")[0]


def test_positions_past_the_list_are_refused() -> None:
    progress = Progress(digest(IDS), 300, 1, 1, 1)
    encoded = encode(progress)
    encoded["position"] = 301
    with pytest.raises(ValueError, match="outside"):
        decode(encoded)


def test_a_store_error_is_logged_once_and_never_raised() -> None:
    store = mock.MagicMock()
    store.set.side_effect = RuntimeError("api server down")
    store.delete.side_effect = RuntimeError("api server down")
    points, _, log = checkpointer(store)
    points.save()
    points.save()
    points.clear()
    assert [c.args[0] for c in log.warning.call_args_list] == [
        "could not save the checkpoint (%s): a retry may send settled ids again",
        "could not delete the checkpoint (%s)",
    ]


def test_clear_deletes_the_checkpoint() -> None:
    store = DictStore()
    run_first_try(store)
    points, _, _ = checkpointer(store, try_number=2)
    points.clear()
    assert store.values == {}
