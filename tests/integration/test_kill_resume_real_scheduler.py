"""Proof with a real scheduler: a SIGKILLed marking task resumes and sends again at most a second's work.

A real ``api-server``, ``scheduler`` (LocalExecutor) and ``dag-processor`` (``tests/standalone_airflow.py``)
run ``kill_dags/quo_kill_resume.py``: one ``MarkConversationReadOperator`` marking 300 ids at 20
requests/s with 4 workers and ``retries=1``. Once the simulator has answered 150 marks, the test
SIGKILLs the task process (``airflow worker -- <ti id>``, a descendant of this test's scheduler): no
``on_kill``, no last checkpoint write. Airflow retries the task; the retry reads the checkpoint from the
task instance's ``task_state_store`` (Airflow 3.3) and sends only what was not settled.

The bound: every id once, plus the calls in flight at the kill, plus what settled since the last
checkpoint write, at most :data:`~airflow_provider_quo.operators.checkpoint.CHECKPOINT_SECONDS` (1 s)
of work at the rate: 332. With the former 5 s interval the same run sent 360 (60 again).
"""

from __future__ import annotations

import math
import os
import signal
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from airflow_provider_quo.operators.checkpoint import CHECKPOINT_SECONDS
from airflow_provider_quo.testing import QuoSimulator
from tests.integration.kill_dags.quo_kill_resume import WORKERS
from tests.standalone_airflow import RestApi, airflow_env, free_port, start_airflow

try:
    from airflow.sdk.execution_time.context import TaskStateStoreAccessor  # noqa: F401
except ImportError:  # Airflow 3.1 and 3.2
    TASK_STATE_STORE = False
else:
    TASK_STATE_STORE = True

pytestmark = [
    pytest.mark.integration,
    pytest.mark.standalone,
    pytest.mark.skipif(not TASK_STATE_STORE, reason="resuming needs Airflow 3.3's task_state_store"),
]

DAGS = Path(__file__).resolve().parent / "kill_dags"
DAG_ID = "quo_kill_resume"
IDS = 300
RATE = 20.0
KILL_AFTER = 150  # 7.5 s in: halfway between two saves of a 5 s interval, the old one
#: Ids sent but not yet settled when the process dies: one call per worker plus the result queue (2 per worker).
IN_FLIGHT = 3 * WORKERS
#: What settled since the last checkpoint write: at most a second's work at the rate.
ONE_SECOND = math.ceil(RATE * CHECKPOINT_SECONDS)


def marks(sim: QuoSimulator) -> int:
    return sum(r.method == "POST" and r.path.endswith("/mark-as-read") for r in sim.requests)


def task_process(scheduler_pid: int, ti_id: str) -> psutil.Process | None:
    """The process running the task instance, under this scheduler's executor: its title is
    ``airflow worker -- <ti id>`` (its parent, the supervisor, is ``airflow worker -- LocalExecutor: ...``)."""
    for child in psutil.Process(scheduler_pid).children(recursive=True):
        try:
            if " ".join(child.cmdline()).strip() == f"airflow worker -- {ti_id}":
                return child
        except psutil.Error:
            continue
    return None


def titles(components: Any) -> list[str]:
    return [" ".join(c.cmdline()) for c in psutil.Process(components.procs["scheduler"].pid).children(recursive=True)]


def task_instance(api: RestApi, run_id: str) -> dict[str, Any]:
    response = api.http.get(f"{api.base}/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/mark_read", timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_sigkilled_task_resends_at_most_a_second_of_work(airflow_home: Path, request: pytest.FixtureRequest) -> None:
    started = time.monotonic()
    with QuoSimulator(api_key=f"kill-key-{os.getpid()}", conversations=IDS + 40, seed=24) as sim:
        ids = sim.conversation_ids(deleted=False)[:IDS]
        assert len(ids) == IDS
        port = free_port()
        env = airflow_env(airflow_home, port, DAGS, {"quo_default": sim.connection_json({"requests_per_second": RATE})})
        env["QUO_THROTTLE_DIR"] = str(airflow_home / "throttle")  # this key's host budget is this test's alone
        components = start_airflow(airflow_home, env, request)
        api = RestApi(port, components)
        api.wait_dag_ready(DAG_ID)
        run_id = api.trigger(DAG_ID, {"ids": ids})

        components.wait_for(f"{KILL_AFTER} marks", lambda: marks(sim) >= KILL_AFTER, 120, interval=0.05)
        ti_id = task_instance(api, run_id)["id"]
        victim = task_process(components.procs["scheduler"].pid, ti_id)
        assert victim is not None, f"no task process of {ti_id} under the scheduler: {titles(components)}"
        victim.send_signal(signal.SIGKILL)
        at_kill = marks(sim)

        run = api.wait_finished(DAG_ID, run_id)
        total = marks(sim)
        ledger = {"marks at the kill": at_kill, "mark requests": total, "ids": IDS, "sent again": total - IDS}
        assert run["state"] == "success", (ledger, components.tails())
        assert task_instance(api, run_id)["try_number"] == 2, "the first try was killed, the second resumed"

        # The server's side: every id read; sent again at most the calls in flight and a second's worth.
        assert sim.read_ids() >= set(ids)
        assert IDS <= total <= IDS + IN_FLIGHT + ONE_SECOND, ledger

        # The summary is the task instance's: every id counted, once.
        summary = api.xcom(DAG_ID, run_id, "mark_read")
        assert summary["requested"] == summary["marked_count"] == IDS, ledger
        assert sorted(summary["marked"]) == sorted(ids)
        assert (summary["not_found_count"], summary["failed_count"], summary["not_attempted_count"]) == (0, 0, 0)
    print(f"SIGKILL under a real scheduler took {time.monotonic() - started:.0f} s: {ledger}")
