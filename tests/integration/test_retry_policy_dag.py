"""QuoRetryPolicy through a real Airflow 3.3 ``dag.test()``: a 401 fails without a retry, transient
failures are retried after the policy's delay, not the task's two-hour ``retry_delay``.

``dag.test()`` honours retry delays: it loops, sleeping a second at a time, until a task instance's
``next_retry_datetime()`` has passed. Nothing really waits here: while ``dag.test()`` runs, its sleeps
move a fake clock forward (``STEP`` seconds each) and the task instances' notion of "now" is the real
time plus that offset. The test then checks when, on that clock, each second try started.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_quo import retry_policy
from airflow_provider_quo.hooks import http
from airflow_provider_quo.testing import QuoSimulator
from airflow_provider_quo.testing.faults import Faults

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not retry_policy.RETRY_POLICY_SUPPORTED, reason="retry policies need Airflow 3.3"),
]

DAGS = Path(__file__).resolve().parent / "retry_policy_dags"
DAG_ID = "quo_retry_policy"
RETRY_AFTER = 600.0
#: Fake seconds per ``dag.test()`` sleep: the resolution of the start times measured below.
STEP = 5.0


class ShiftedClock:
    """Stands in for ``airflow.models.taskinstance.timezone``: ``utcnow()`` is real time plus ``offset``."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.offset = timedelta(0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def utcnow(self) -> datetime:
        return self._real.utcnow() + self.offset  # type: ignore[no-any-return]


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> tuple[ShiftedClock, list[tuple[str, int, datetime]]]:
    """Turn ``dag.test()``'s sleeps into clock jumps; returns the clock and each try's (task, try, fake start)."""
    from airflow.models import taskinstance
    from airflow.sdk.definitions import dag as dag_module

    clock = ShiftedClock(taskinstance.timezone)
    monkeypatch.setattr(taskinstance, "timezone", clock)
    real_sleep, dag_test_code = time.sleep, dag_module.DAG.test.__code__

    def sleep(seconds: float) -> None:
        if sys._getframe(1).f_code is dag_test_code:
            clock.offset += timedelta(seconds=STEP)
        else:  # the simulator's and the hook's threads keep their real sleeps
            real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep)
    starts: list[tuple[str, int, datetime]] = []
    real_run_task = dag_module._run_task

    def run_task(*, ti: Any, **kwargs: Any) -> Any:
        starts.append((ti.task_id, ti.try_number, clock.utcnow()))
        return real_run_task(ti=ti, **kwargs)

    monkeypatch.setattr(dag_module, "_run_task", run_task)
    return clock, starts


def history(dag_run: Any, task_id: str) -> Any:
    """The task's first try as Airflow archived it when the second began (``None`` if there was none)."""
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return session.scalars(
            select(TaskInstanceHistory).where(
                TaskInstanceHistory.dag_id == dag_run.dag_id,
                TaskInstanceHistory.run_id == dag_run.run_id,
                TaskInstanceHistory.task_id == task_id,
                TaskInstanceHistory.try_number == 1,
            )
        ).one_or_none()


def test_policy_fails_401_at_once_and_retries_transient_failures_after_its_delay(
    airflow_db: None, monkeypatch: pytest.MonkeyPatch, dagbag_class: type, fake_clock: Any
) -> None:
    from airflow import settings

    clock, starts = fake_clock
    # The key pauses for a 429's Retry-After, capped at this, in real time: no real waiting here (the retry's
    # own wait, capped alike, is recorded by no_retry_sleep, not slept).
    monkeypatch.setattr(http, "MAX_RETRY_AFTER", 0.0)
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS))
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(DAGS))
    with QuoSimulator(api_key="policy-key-51c", conversations=20, seed=3) as sim:
        sim.faults = Faults(retry_after=RETRY_AFTER)
        wrong_key_id, rate_limited_id, *transient_ids = sim.conversation_ids(deleted=False)[:5]
        sim.fail_next(2, "429", path_contains=rate_limited_id)  # both of the hook's attempts
        sim.fail_next(2, "503", path_contains=transient_ids[1])
        extra = {"requests_per_second": 100_000, "retry_limit": 2}
        monkeypatch.setenv("AIRFLOW_CONN_QUO_DEFAULT", sim.connection_json(extra))
        wrong = {**json.loads(sim.connection_json(extra)), "password": "not-the-key"}
        monkeypatch.setenv("AIRFLOW_CONN_QUO_WRONG_KEY", json.dumps(wrong))
        dag = dagbag_class(dag_folder=DAGS / f"{DAG_ID}.py").get_dag(DAG_ID)
        conf = {"wrong_key_id": wrong_key_id, "rate_limited_id": rate_limited_id, "transient_ids": transient_ids}

        dag_run = dag.test(run_conf=conf)

        states = {ti.task_id: (str(ti.state), ti.try_number) for ti in dag_run.get_task_instances()}
        assert states == {"wrong_key": ("failed", 1), "rate_limited": ("success", 2), "transient": ("success", 2)}
        assert dag_run.state == "failed"  # because of wrong_key alone

        # 401: one request, no second try although two retries were left.
        assert sim.request_count(status=401) == 1
        assert history(dag_run, "wrong_key") is None
        assert [n for task_id, n, _ in starts if task_id == "wrong_key"] == [1]

        # 429 with Retry-After 600 and 503: each first try was put up for retry with the policy's delay ...
        transient_delay = dag.default_args["retry_policy"].transient_delay.total_seconds()
        delays = {"rate_limited": RETRY_AFTER, "transient": transient_delay}
        for task_id, delay in delays.items():
            first = history(dag_run, task_id)
            assert (first.state, first.retry_delay_override) == ("failed", delay)  # archived tries read "failed"
            assert "Retry-After" in first.retry_reason if task_id == "rate_limited" else "503" in first.retry_reason
            # ... and the second try started once that delay had passed on the clock, long before 2 hours.
            (second_start,) = [at for t, n, at in starts if (t, n) == (task_id, 2)]
            waited = (second_start - first.end_date).total_seconds()
            assert delay <= waited < delay + STEP + 30, (task_id, waited)
        assert clock.offset < timedelta(hours=1)
        assert sim.state(rate_limited_id)["read"]
        assert all(sim.state(cid)["read"] for cid in transient_ids)
        assert not sim.state(wrong_key_id)["read"]


def test_example_mark_ids_dag_gives_every_task_the_policy(dagbag_class: type) -> None:
    example_dags = Path(__file__).resolve().parents[2] / "example_dags"
    dag = dagbag_class(dag_folder=example_dags / "example_quo_mark_ids.py").get_dag("example_quo_mark_ids")
    assert {task.task_id: task.retries for task in dag.tasks} == dict.fromkeys(
        ["mark_read", "mark_done", "conversations_assigned_to", "mark_assigned_read"], 2
    )
    assert all(isinstance(task.retry_policy, retry_policy.QuoRetryPolicy) for task in dag.tasks)
