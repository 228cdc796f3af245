"""StalenessRule: which listed conversations are stale, and why the others are skipped."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_quo.operators._staleness import StalenessRule, parse_api_datetime, tally

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
CUTOFF = datetime(2026, 10, 1, tzinfo=timezone.utc)
OLD = "2026-09-01T00:00:00Z"
FUTURE = "2026-12-01T00:00:00Z"
PAST = "2026-10-15T00:00:00Z"


class VerdictRule(StalenessRule):
    """The rule, with one word per conversation for these tables: ``"selected"`` if stale, else why not."""

    def verdict(self, conversation: dict[str, Any]) -> str:
        assessment = self.assess(conversation)
        return "selected" if assessment.stale_since is not None else assessment.verdict


def rule(**flags: bool) -> VerdictRule:
    return VerdictRule(cutoff=CUTOFF, now=NOW, **flags)


def conv(last: str | None = OLD, created: str | None = "2026-01-01T00:00:00Z", **fields: Any) -> dict[str, Any]:
    base = {"id": "CN1", "createdAt": created, "updatedAt": last, "lastActivityAt": last}
    return {**base, "deletedAt": None, "mutedUntil": None, "snoozedUntil": None, **fields}


@pytest.mark.parametrize(
    ("last", "verdict"),
    [
        pytest.param("2026-10-01T00:00:00Z", "recent", id="exactly-at-cutoff-Z"),
        pytest.param("2026-10-01T00:00:00+00:00", "recent", id="exactly-at-cutoff-offset"),
        pytest.param("2026-10-01T00:00:00.000Z", "recent", id="exactly-at-cutoff-millis"),
        pytest.param("2026-10-01T02:00:00+02:00", "recent", id="exactly-at-cutoff-other-offset"),
        pytest.param("2026-09-30T23:59:59.999999Z", "selected", id="one-microsecond-before-Z"),
        pytest.param("2026-09-30T23:59:59.999999+00:00", "selected", id="one-microsecond-before-offset"),
        pytest.param("2026-09-30T23:59:59.999Z", "selected", id="one-millisecond-before"),
        pytest.param("2026-10-01T01:59:59+02:00", "selected", id="before-in-other-offset"),
        pytest.param("2026-10-01T00:00:00.000001Z", "recent", id="one-microsecond-after"),
        pytest.param("2026-10-31T00:00:00Z", "recent", id="well-after"),
        pytest.param("2020-01-01T00:00:00Z", "selected", id="long-ago"),
    ],
)
def test_cutoff_boundary(last: str, verdict: str) -> None:
    assert rule().verdict(conv(last=last)) == verdict


def test_cutoff_is_exclusive_using_datetimes() -> None:
    at = CUTOFF.isoformat()
    before = (CUTOFF - timedelta(microseconds=1)).isoformat()
    assert rule().verdict(conv(last=at)) == "recent"
    assert rule().verdict(conv(last=before)) == "selected"


@pytest.mark.parametrize(
    ("last", "created", "verdict"),
    [
        pytest.param(None, "2026-09-01T00:00:00Z", "selected", id="null-last-old-created"),
        pytest.param(None, "2026-10-20T00:00:00Z", "recent", id="null-last-new-created"),
        pytest.param("", "2026-09-01T00:00:00Z", "selected", id="empty-last"),
        pytest.param("not a date", "2026-09-01T00:00:00Z", "unparseable", id="garbage-last-is-never-guessed"),
        pytest.param("2026-10-20T00:00:00Z", "2020-01-01T00:00:00Z", "recent", id="last-wins-over-created"),
        pytest.param(None, None, "no_activity", id="both-null"),
        pytest.param(None, "garbage", "unparseable", id="null-last-garbage-created"),
    ],
)
def test_last_activity_falls_back_to_created(last: Any, created: Any, verdict: str) -> None:
    assert rule().verdict(conv(last=last, created=created)) == verdict


def test_missing_date_fields_mean_no_activity() -> None:
    assert rule().verdict({"id": "CN1"}) == "no_activity"


def test_deleted_is_skipped_unless_included() -> None:
    deleted = conv(deletedAt="2026-10-02T00:00:00Z")
    assert rule().verdict(deleted) == "deleted"
    assert rule(include_deleted=True).verdict(deleted) == "selected"
    assert rule(include_deleted=True).verdict({**deleted, "lastActivityAt": PAST}) == "recent"


def test_snoozed_in_the_future_is_skipped_unless_included() -> None:
    snoozed = conv(snoozedUntil=FUTURE)
    assert rule().verdict(snoozed) == "snoozed"
    assert rule(include_snoozed=True).verdict(snoozed) == "selected"


@pytest.mark.parametrize("until", [PAST, NOW.isoformat(), "2026-11-01T12:00:00Z", None])
def test_snooze_not_running_at_the_run_time_does_not_count(until: Any) -> None:
    assert rule().verdict(conv(snoozedUntil=until)) == "selected"


@pytest.mark.parametrize("field", ["snoozedUntil", "mutedUntil"])
def test_an_unreadable_snooze_or_mute_is_never_guessed(field: str) -> None:
    assert rule(include_muted=False).verdict(conv(**{field: "garbage"})) == "unparseable"


def test_snooze_is_judged_at_the_run_time_not_the_cutoff() -> None:
    # snoozed past the cutoff but not past the run's time: the snooze is over
    assert rule().verdict(conv(snoozedUntil="2026-10-10T00:00:00Z")) == "selected"
    assert rule().verdict(conv(snoozedUntil="2026-11-01T12:00:00.000001Z")) == "snoozed"


def test_muted_is_selected_by_default_and_skipped_when_excluded() -> None:
    muted = conv(mutedUntil=FUTURE)
    assert rule().verdict(muted) == "selected"
    assert rule(include_muted=False).verdict(muted) == "muted"
    assert rule(include_muted=False).verdict(conv(mutedUntil=PAST)) == "selected"


def test_recent_wins_over_snooze_and_mute_reasons() -> None:
    recent = conv(last=PAST, snoozedUntil=FUTURE, mutedUntil=FUTURE)
    assert rule(include_muted=False).verdict(recent) == "recent"


def test_deleted_reason_comes_first() -> None:
    assert rule().verdict(conv(last=None, created=None, deletedAt=PAST, snoozedUntil=FUTURE)) == "deleted"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-01T00:00:00Z", datetime(2026, 10, 1, tzinfo=timezone.utc)),
        ("2026-10-01T00:00:00+00:00", datetime(2026, 10, 1, tzinfo=timezone.utc)),
        ("2026-10-01T00:00:00.123Z", datetime(2026, 10, 1, 0, 0, 0, 123000, tzinfo=timezone.utc)),
        ("2026-10-01T02:00:00+02:00", datetime(2026, 10, 1, tzinfo=timezone.utc)),
        (None, None),
        ("", None),
        ("yesterday", None),
        (12345, None),
    ],
)
def test_parse_api_datetime(text: Any, expected: datetime | None) -> None:
    parsed = parse_api_datetime(text)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is not None


def test_a_timestamp_without_offset_is_read_as_utc() -> None:
    # the API documents UTC; a value without an offset must not crash the comparison with the cutoff
    assert parse_api_datetime("2026-10-01T00:00:00") == datetime(2026, 10, 1, tzinfo=timezone.utc)
    assert rule().verdict(conv(last="2026-09-30T23:59:59")) == "selected"
    assert rule().verdict(conv(last="2026-10-01T00:00:00")) == "recent"


def test_tally_reports_skips_only() -> None:
    verdicts = Counter({"selected": 5, "recent": 3, "deleted": 1, "no_activity": 2})
    assert tally(verdicts) == {"skipped_deleted": 1, "skipped_no_activity": 2, "skipped_recent": 3}
    assert tally(Counter({"selected": 2})) == {}
