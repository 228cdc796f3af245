"""Proof with a real Airflow: the key is masked in task logs written by a real scheduler and worker.

The test starts ``airflow api-server`` (bound to 127.0.0.1 on a free port), ``airflow scheduler``
(LocalExecutor, log server off) and ``airflow dag-processor`` from the virtualenv, each in its own
session (process group), with a temporary ``AIRFLOW_HOME``, SQLite, no examples and a DAGs folder
holding one DAG (``dags/quo_security_task_logs.py``). ``quo_default`` points at a simulator started
by the test with a distinctive key. A run is triggered and followed through the REST API
(``/api/v2``; the simple auth manager with ``simple_auth_manager_all_admins`` needs no password), and
its task logs, XComs and rendered fields are fetched through the REST API too.

The DAG logs the hook's Authorization header (the raw key) at INFO and prints it to stdout: the
log must show ``***`` there, and the key must appear nowhere: not in the API's log content, not in any
file under ``AIRFLOW_HOME/logs``, not in the components' own output.

Every process group is stopped in a finalizer (SIGTERM, then SIGKILL), even when the test fails.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from airflow_provider_quo.testing import QuoSimulator
from tests.standalone_airflow import RestApi, airflow_env, free_port, start_airflow

pytestmark = [pytest.mark.integration, pytest.mark.standalone]

DAG_ID = "quo_security_task_logs"
DAGS = Path(__file__).resolve().parent / "dags"
KEY = "quo-sec-STANDALONE-u4Rk9WmZ2xQe7TbN"
IDS = 25
#: What the DAG's bait task logs, followed by the header value (the key, unless masked).
BAIT = "Authorization header the hook sends: "


def test_real_scheduler_task_log_masks_the_key(airflow_home: Path, request: pytest.FixtureRequest) -> None:
    started = time.monotonic()
    with QuoSimulator(api_key=KEY, conversations=IDS + 15, seed=8) as sim:
        ids = sim.conversation_ids(deleted=False)[:IDS]
        port = free_port()
        env = airflow_env(airflow_home, port, DAGS, {"quo_default": sim.connection_json({"requests_per_second": 1000})})
        components = start_airflow(airflow_home, env, request)
        api = RestApi(port, components)
        api.wait_dag_ready(DAG_ID)
        run_id = api.trigger(DAG_ID, {"conversation_ids": ids})
        state = api.wait_finished(DAG_ID, run_id)["state"]
        run_url = f"{api.base}/dags/{DAG_ID}/dagRuns/{run_id}"
        http = api.http

        def task_log(task_id: str) -> str:
            return api.task_log(DAG_ID, run_id, task_id)

        header_log = task_log("log_authorization_header")
        mark_log = task_log("mark_read")
        assert state == "success", f"run {state}:\n{header_log[-3000:]}\n{mark_log[-3000:]}"

        # The task logs have content, and the header lines were masked.
        assert f"{BAIT}***" in header_log
        assert f"stdout: {BAIT}***" in header_log
        assert f"mark-as-read: {IDS} marked, 0 not found, 0 failed, 0 not attempted, of {IDS}" in mark_log
        # The simulator saw the marks, each with the key in the header.
        assert sim.read_ids() == set(ids)
        assert sim.request_count("POST", status=200) == IDS
        assert all(r.authorized for r in sim.requests)
        # The XCom and the rendered fields through the API.
        xcom = http.get(f"{run_url}/taskInstances/mark_read/xcomEntries/return_value", timeout=30)
        assert xcom.status_code == 200, xcom.text
        ti = http.get(f"{run_url}/taskInstances/mark_read", timeout=30)
        assert ti.status_code == 200, ti.text
        assert ti.json()["rendered_fields"]["quo_conn_id"] == "quo_default"

        # The key is nowhere: API log content, XCom, rendered fields, log files, component output.
        secret_half = KEY[8:]
        for where, text in {
            "the log_authorization_header task log": header_log,
            "the mark_read task log": mark_log,
            "the XCom": xcom.text,
            "the task instance": ti.text,
        }.items():
            assert secret_half not in text, f"the key leaked into {where}"
        log_files = [p for p in (airflow_home / "logs").rglob("*") if p.is_file()]
        assert any(DAG_ID in str(p) for p in log_files)
        for path in [*log_files, airflow_home / "api-server.out", airflow_home / "dag-processor.out"]:
            assert secret_half not in path.read_text(errors="replace"), f"the key leaked into {path}"
        # Airflow 3.3's LocalExecutor also echoes task log lines to the scheduler's stdout, and that echo
        # is not masked (an Airflow limitation: the masker the task's key is registered with is not the one
        # of the scheduler's console logging). Only this DAG's deliberate bait may show there, never a
        # line the provider itself wrote.
        leaking = [
            line
            for line in (airflow_home / "scheduler.out").read_text(errors="replace").splitlines()
            if secret_half in line
        ]
        assert all(BAIT in line for line in leaking), f"the provider leaked the key to the scheduler: {leaking}"
        assert len(leaking) <= 2

    elapsed = time.monotonic() - started
    print(f"real-scheduler proof took {elapsed:.0f} s")
