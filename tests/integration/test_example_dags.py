"""The example DAGs: they parse offline, and each runs green through a real ``dag.test()`` against the simulator.

Every run uses the SQLite metadata DB of the ``airflow_db`` fixture and a :class:`QuoSimulator` on
127.0.0.1 whose clock starts at the run's logical date, so the stale selection is deterministic.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_quo.testing import QuoSimulator
from tests.integration.dag_runs import API_KEY, EXAMPLE_DAGS, NOW, posts, task_states, xcom, xcoms

pytestmark = pytest.mark.integration

DAG_IDS = {"example_quo_stale_unread_cleanup", "example_quo_mark_ids", "example_quo_bulk_mapped"}


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def expected_stale(sim: QuoSimulator, days: int, phone_number_id: str | None = None) -> list[str]:
    """Stale ids in listing order, by the documented rule: idle since before ``NOW - days``, not deleted,
    not snoozed past ``NOW`` (computed here from the simulator's data, independently of the operator)."""
    cutoff = NOW - timedelta(days=days)
    selected = []
    for conversation_id in sim.conversation_ids():
        conversation = sim.conversation(conversation_id)
        last = _parse(conversation["lastActivityAt"]) or _parse(conversation["createdAt"])
        snoozed_until = _parse(conversation["snoozedUntil"])
        if (
            conversation["deletedAt"] is None
            and last is not None
            and last < cutoff
            and not (snoozed_until and snoozed_until > NOW)
            and phone_number_id in (None, conversation["phoneNumberId"])
        ):
            selected.append(conversation_id)
    return selected


@pytest.fixture(scope="module")
def dagbag(dagbag_class: type) -> Any:
    """The example DAGs, parsed once, with any HTTP request during parsing recorded and refused."""
    DagBag = dagbag_class

    attempts: list[tuple[Any, ...]] = []

    def refuse(self: requests.Session, method: str, url: str, *args: Any, **kwargs: Any) -> None:
        attempts.append((method, url))
        raise AssertionError(f"HTTP request at parse time: {method} {url}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(requests.Session, "request", refuse)
        # Airflow 3.3's DagBag has no include_examples: examples are a separate bundle (and LOAD_EXAMPLES is off).
        bag = DagBag(dag_folder=str(EXAMPLE_DAGS))
    bag.http_attempts = attempts
    return bag


@pytest.fixture
def quo_api_pool(airflow_db: None) -> None:
    """The pool the bulk DAG's batches run in, as ``airflow pools set quo_api 2 "Quo API key budget"`` makes it.

    Airflow 3.3's ``dag.test()`` runs tasks without checking pools (only the scheduler does; the DAG
    also runs green without this), but a real deployment needs the pool, so the test has it too.
    """
    from airflow.models.pool import Pool

    Pool.create_or_update_pool("quo_api", slots=2, description="Quo API key budget", include_deferred=False)


def test_every_example_dag_file_parses_without_network(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert dagbag.captured_warnings == {}
    assert dagbag.http_attempts == []
    assert set(dagbag.dag_ids) == DAG_IDS
    files = {Path(dag.fileloc).name for dag in dagbag.dags.values()}
    assert files == {path.name for path in EXAMPLE_DAGS.glob("*.py")}, "every file defines a DAG"
    for dag in dagbag.dags.values():
        assert "quo" in dag.tags
        assert dag.doc_md, f"{dag.dag_id} has no doc_md"
        # Copied into a running Airflow, none runs before someone unpauses it (an unpaused @daily DAG
        # starts its latest interval at once, and with a real key marks the inbox read).
        assert dag.is_paused_upon_creation is True, dag.dag_id


def test_stale_cleanup_marks_only_stale_live_conversations(run_dag: Any) -> None:
    with QuoSimulator(api_key=API_KEY, conversations=60, seed=3, now=NOW) as sim:
        stale = sim.add_conversation("CNstaleOne", last_activity_at=NOW - timedelta(days=45))
        muted = sim.add_conversation(
            "CNstaleMuted", last_activity_at=NOW - timedelta(days=45), muted_until=NOW + timedelta(days=2)
        )
        deleted = sim.add_conversation("CNstaleDeleted", last_activity_at=NOW - timedelta(days=45), deleted=True)
        snoozed = sim.add_conversation(
            "CNstaleSnoozed", last_activity_at=NOW - timedelta(days=45), snoozed_until=NOW + timedelta(days=3)
        )
        recent = sim.add_conversation("CNrecent", last_activity_at=NOW - timedelta(days=29))
        expected = expected_stale(sim, days=30)
        assert {stale["id"], muted["id"]} <= set(expected)
        assert not {deleted["id"], snoozed["id"], recent["id"]} & set(expected)
        skipped = set(sim.conversation_ids(deleted=True)) | set(sim.conversation_ids(snoozed=True))
        assert len(skipped) > 2, "the seeded data has deleted and snoozed conversations too"

        dag_run = run_dag("example_quo_stale_unread_cleanup", sim, {"older_than_days": 30})

        assert dag_run.state == "success"
        marked = posts(sim, "read")
        assert sorted(marked) == sorted(expected), "each stale id posted exactly once"
        assert sim.request_count("POST", status=200) == len(expected)
        assert sim.read_ids() == set(expected)
        assert not sim.read_ids() & skipped
        assert sim.request_count("GET", "/v1/conversations") >= 1

        selection = xcom(dag_run, "list_stale_conversations", "summary")
        assert selection["selected"] == len(expected)
        assert selection["cutoff"] == (NOW - timedelta(days=30)).isoformat()
        assert selection["skipped_deleted"] >= 1
        assert selection["skipped_snoozed"] >= 1
        assert xcom(dag_run, "list_stale_conversations") == expected
        summary = xcom(dag_run, "mark_read")
        assert summary["dry_run"] is False
        assert summary["requested"] == summary["marked_count"] == len(expected)
        assert sorted(summary["marked"]) == sorted(expected)
        assert (summary["not_found_count"], summary["failed_count"], summary["not_attempted_count"]) == (0, 0, 0)


def test_stale_cleanup_dry_run_with_line_and_limit_sends_no_mark(run_dag: Any) -> None:
    with QuoSimulator(api_key=API_KEY, conversations=60, seed=3, now=NOW) as sim:
        line = sim.phone_numbers[0]["id"]
        stale = expected_stale(sim, days=30, phone_number_id=line)
        assert len(stale) > 3

        def idle_since(conversation_id: str) -> tuple[datetime, str]:
            conversation = sim.conversation(conversation_id)
            return _parse(conversation["lastActivityAt"] or conversation["createdAt"]), conversation_id  # type: ignore[return-value]

        expected = sorted(stale, key=idle_since)[:3]  # a limit keeps those that became stale first

        conf = {"older_than_days": 30, "phone_numbers": [line], "dry_run": True, "limit": 3}
        dag_run = run_dag("example_quo_stale_unread_cleanup", sim, conf)

        assert dag_run.state == "success"
        assert sim.request_count("POST") == 0
        assert sim.read_ids() == set()
        listings = [r for r in sim.requests if r.method == "GET"]
        assert listings
        assert all(("phoneNumbers", line) in r.query for r in listings)
        assert xcom(dag_run, "list_stale_conversations", "summary")["limit_reached"] is True
        summary = xcom(dag_run, "mark_read")
        assert summary["dry_run"] is True
        assert summary["would_mark"] == expected
        assert summary["marked_count"] == 0


def test_mark_ids_from_params_xcom_arg_and_jinja_xcom_pull(run_dag: Any) -> None:
    with QuoSimulator(api_key=API_KEY, conversations=40, seed=5, now=NOW) as sim:
        user = sim.user_ids[0]
        assigned = [cid for cid in sim.conversation_ids(deleted=False) if sim.conversation(cid)["assignedTo"] == user]
        others = [cid for cid in sim.conversation_ids(deleted=False) if cid not in assigned]
        given = others[:3]
        gone = sim.conversation_ids(deleted=True)[0]  # Quo answers 404 for a deleted conversation
        assert assigned

        conf = {"conversation_ids": [*given, gone], "mark_done": True, "assigned_to": user}
        dag_run = run_dag("example_quo_mark_ids", sim, conf)

        assert dag_run.state == "success"
        assert Counter(posts(sim, "read")) == Counter([*given, gone, *assigned]), "each id posted once"
        assert sorted(posts(sim, "done")) == sorted(given), "only the ids mark_read marked are marked done"
        assert sim.read_ids() == {*given, *assigned}
        assert sim.done_ids() == set(given)
        listings = [r for r in sim.requests if r.method == "GET"]
        assert listings, "conversations_assigned_to listed them"
        assert all(("userId", user) in r.query for r in listings), "filtered on the server"

        from_params = xcom(dag_run, "mark_read")
        assert sorted(from_params["marked"]) == sorted(given)
        assert from_params["not_found"] == [gone]
        assert from_params["failed_count"] == 0
        assert xcom(dag_run, "mark_done")["marked_count"] == len(given)
        assert xcom(dag_run, "conversations_assigned_to") == assigned
        from_task = xcom(dag_run, "mark_assigned_read")
        assert sorted(from_task["marked"]) == sorted(assigned)
        assert from_task["requested"] == from_task["marked_count"] == len(assigned)


def test_mark_ids_defaults_do_nothing(run_dag: Any) -> None:
    with QuoSimulator(api_key=API_KEY, conversations=10, seed=5, now=NOW) as sim:
        dag_run = run_dag("example_quo_mark_ids", sim, {})

        assert dag_run.state == "success"
        assert sim.requests == []
        assert xcom(dag_run, "mark_read")["requested"] == 0
        assert xcom(dag_run, "mark_done")["requested"] == 0
        assert xcom(dag_run, "mark_assigned_read")["requested"] == 0


def test_mark_ids_dry_run_sends_no_post(run_dag: Any) -> None:
    with QuoSimulator(api_key=API_KEY, conversations=40, seed=5, now=NOW) as sim:
        user = sim.user_ids[0]
        assigned = [cid for cid in sim.conversation_ids(deleted=False) if sim.conversation(cid)["assignedTo"] == user]
        given = [cid for cid in sim.conversation_ids(deleted=False) if cid not in assigned][:3]
        assert assigned

        conf = {"conversation_ids": given, "mark_done": True, "assigned_to": user, "dry_run": True}
        dag_run = run_dag("example_quo_mark_ids", sim, conf)

        assert dag_run.state == "success"
        assert sim.request_count("POST") == 0
        assert (sim.read_ids(), sim.done_ids()) == (set(), set())
        assert [r.method for r in sim.requests] == ["GET"] * len(sim.requests), "only the assigned listing"
        for task_id, would_mark in [("mark_read", given), ("mark_done", given), ("mark_assigned_read", assigned)]:
            summary = xcom(dag_run, task_id)
            assert summary["dry_run"] is True, task_id
            assert summary["would_mark"] == would_mark, task_id
            assert summary["marked_count"] == 0, task_id


@pytest.mark.usefixtures("quo_api_pool")
def test_bulk_mapped_marks_every_stale_id_once_in_throttled_batches(run_dag: Any, dagbag: Any) -> None:
    dag = dagbag.get_dag("example_quo_bulk_mapped")
    mapped = dag.get_task("mark_read_batch")
    assert mapped.partial_kwargs["pool"] == "quo_api"
    assert mapped.partial_kwargs["requests_per_second"] == 5  # the key's 10/s split between the pool's 2 slots

    with QuoSimulator(api_key=API_KEY, conversations=30, seed=11, now=NOW) as sim:
        expected = expected_stale(sim, days=30)
        batch_size = 4
        batches = math.ceil(len(expected) / batch_size)
        assert batches >= 3

        dag_run = run_dag("example_quo_bulk_mapped", sim, {"older_than_days": 30, "batch_size": batch_size})

        assert dag_run.state == "success"
        assert task_states(dag_run)[("mark_read_batch", "success")] == batches
        assert {ti.pool for ti in dag_run.get_task_instances() if ti.task_id == "mark_read_batch"} == {"quo_api"}
        assert Counter(posts(sim, "read")) == Counter(expected), "each stale id posted exactly once"
        assert sim.read_ids() == set(expected)
        # The DAG's 5 requests/s per batch wins over the connection's 1000/s (and holds across batches
        # here: one process, one throttle). Measured over the whole run, as single gaps jitter under load,
        # and bounded at twice the DAG's rate: a loaded machine only slows it, and the connection's 1000/s
        # would send the whole run in the time of one request.
        starts = sorted(r.started for r in sim.requests if r.method == "POST")
        assert (len(starts) - 1) / (starts[-1] - starts[0]) < 10

        chunks = [expected[i : i + batch_size] for i in range(0, len(expected), batch_size)]
        assert xcom(dag_run, "make_batches") == chunks
        per_batch = xcoms(dag_run, "mark_read_batch")
        assert [per_batch[i]["marked_count"] for i in range(batches)] == [len(chunk) for chunk in chunks]
        assert all(s["marked"] == [] for s in per_batch.values()), "include_marked_ids=False keeps summaries small"
        totals = xcom(dag_run, "total")
        assert xcoms(dag_run, "total", "summary") == {}, "stored once: the return value"
        assert {key: value for key, value in totals.items() if key != "elapsed_seconds"} == {
            "action": "read",
            "dry_run": False,
            "batches": batches,
            "failed_batches": [],
            "requested": len(expected),
            "marked_count": len(expected),
            "not_found_count": 0,
            "failed_count": 0,
            "not_attempted_count": 0,
            "invalid_count": 0,
            "marked": [],
            "not_found": [],
            "failed": {},
            "failed_detail": {},
            "invalid": [],
        }


@pytest.mark.usefixtures("quo_api_pool")
def test_bulk_mapped_failed_batch_is_totalled_and_fails_the_run(run_dag: Any) -> None:
    with QuoSimulator(api_key=API_KEY, conversations=30, seed=11, now=NOW) as sim:
        expected = expected_stale(sim, days=30)
        batch_size = 4
        chunks = [expected[i : i + batch_size] for i in range(0, len(expected), batch_size)]
        assert len(chunks) >= 3
        victim = chunks[1][2]
        # Every attempt at the victim answers 500: 2 attempts with the connection's retry_limit of 2.
        sim.fail_next(2, "500", path_contains=victim)

        conf = {"older_than_days": 30, "batch_size": batch_size}
        dag_run = run_dag("example_quo_bulk_mapped", sim, conf, extra={"retry_limit": 2})

        assert Counter(posts(sim, "read")) == Counter(expected) + Counter([victim]), "the victim was tried twice"
        assert sim.read_ids() == set(expected) - {victim}
        # The run failed because of the one batch alone: `total` fails on its behalf, nothing else failed.
        assert dag_run.state == "failed"
        states = {(ti.task_id, ti.map_index): str(ti.state) for ti in dag_run.get_task_instances()}
        assert {key for key, state in states.items() if state != "success"} == {("mark_read_batch", 1), ("total", -1)}
        assert (states[("mark_read_batch", 1)], states[("total", -1)]) == ("failed", "failed")

        # Every batch stored its summary as its return value, the failed one too, once; all are counted.
        assert set(xcoms(dag_run, "mark_read_batch")) == set(range(len(chunks)))
        assert xcoms(dag_run, "mark_read_batch", "summary") == {}
        assert xcoms(dag_run, "mark_read_batch")[1]["failed"].keys() == {victim}
        totals = xcom(dag_run, "total")  # total failed, and stored its totals where a success's go
        assert list(totals["failed"]) == [victim]
        assert "500" in totals["failed"][victim]
        assert totals["failed_detail"] == {victim: {"kind": "5xx", "status": 500}}
        counts = ("batches", "failed_batches", "requested", "marked_count", "failed_count", "not_attempted_count")
        assert {key: totals[key] for key in counts} == {
            "batches": len(chunks),
            "failed_batches": [1],
            "requested": len(expected),
            "marked_count": len(expected) - 1,
            "failed_count": 1,
            "not_attempted_count": 0,
        }
        assert (totals["dry_run"], totals["not_found"]) == (False, [])


def test_bulk_mapped_dry_run_sends_no_post(run_dag: Any) -> None:
    with QuoSimulator(api_key=API_KEY, conversations=30, seed=11, now=NOW) as sim:
        expected = expected_stale(sim, days=30)
        batches = math.ceil(len(expected) / 4)

        dag_run = run_dag("example_quo_bulk_mapped", sim, {"older_than_days": 30, "batch_size": 4, "dry_run": True})

        assert dag_run.state == "success"
        assert sim.request_count("POST") == 0
        assert sim.read_ids() == set()
        per_batch = xcoms(dag_run, "mark_read_batch")
        assert len(per_batch) == batches
        assert all(summary["dry_run"] is True for summary in per_batch.values())
        totals = xcom(dag_run, "total")
        assert (totals["dry_run"], totals["batches"], totals["failed_batches"]) == (True, batches, [])
        assert (totals["requested"], totals["not_attempted_count"]) == (len(expected), len(expected))
        assert (totals["marked_count"], totals["failed_count"]) == (0, 0)


def test_bulk_mapped_with_nothing_stale_totals_zero(run_dag: Any) -> None:
    with QuoSimulator(api_key=API_KEY, conversations=10, seed=11, now=NOW) as sim:
        dag_run = run_dag("example_quo_bulk_mapped", sim, {"older_than_days": 36_500})

        assert dag_run.state == "success"
        assert task_states(dag_run)[("mark_read_batch", "skipped")] == 1, "no batch: the mapped task is skipped"
        assert sim.request_count("POST") == 0
        totals = xcom(dag_run, "total")
        assert (totals["batches"], totals["requested"], totals["failed"]) == (0, 0, {})


def test_bulk_mapped_listing_failure_fails_the_run(run_dag: Any) -> None:
    """``total`` runs after a failed listing too (all_done), and must fail then, not total nothing."""
    with QuoSimulator(api_key=API_KEY, conversations=10, seed=11, now=NOW) as sim:
        dag_run = run_dag("example_quo_bulk_mapped", sim, {"older_than_days": 36_501})  # over the 100-year bound

        assert dag_run.state == "failed"
        states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
        assert states == {
            "list_stale_conversations": "failed",
            "make_batches": "upstream_failed",
            "mark_read_batch": "upstream_failed",
            "total": "failed",
        }
        assert sim.requests == []
        assert xcoms(dag_run, "total") == {}


def test_bulk_mapped_batch_failing_without_summary_counts_its_ids_as_failed(
    run_dag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator

    execute = MarkConversationReadOperator.execute

    def crash_first_batch(self: Any, context: Any) -> Any:
        if context["ti"].map_index == 0:
            raise RuntimeError("worker crashed before any summary")
        return execute(self, context)

    monkeypatch.setattr(MarkConversationReadOperator, "execute", crash_first_batch)
    with QuoSimulator(api_key=API_KEY, conversations=30, seed=11, now=NOW) as sim:
        expected = expected_stale(sim, days=30)
        first = expected[:4]

        dag_run = run_dag("example_quo_bulk_mapped", sim, {"older_than_days": 30, "batch_size": 4, "dry_run": True})

        assert dag_run.state == "failed"
        assert 0 not in xcoms(dag_run, "mark_read_batch"), "the crashed batch stored nothing"
        totals = xcom(dag_run, "total")
        assert (totals["failed_batches"], totals["requested"]) == ([0], len(expected))
        assert totals["failed_count"] == len(first)
        # sorted: PostgreSQL keeps XCom values as JSONB, which does not keep a dict's key order
        assert sorted(totals["failed"]) == sorted(first)
        assert all("mark_read_batch[0]" in reason for reason in totals["failed"].values())
        assert totals["not_attempted_count"] == len(expected) - len(first), "the dry-run batches"
