"""``make demo``'s terminal filter: the provider's lines and errors shown, Airflow's other logging only in the file."""

from __future__ import annotations

from scripts.demo_logs import terminal_line

PROGRESS = (
    "2026-12-02T18:02:30.528038Z [info     ] mark-as-read: 51/135 done (38%), 10.2/s "
    "[airflow.task.operators.airflow_provider_quo.operators.mark_conversation_read.MarkConversationReadOperator] "
    "loc=_progress.py:61\n"
)
AIRFLOW_INFO = (
    "2026-12-02T18:02:21.262043Z [info     ] Creating global lock context   [airflow.utils.db] loc=db.py:730\n"
)
AIRFLOW_ERROR = "2026-12-02T18:02:21.262043Z [error    ] Task failed with exception [task] loc=task_runner.py:1\n"
HOOK_WARNING = (
    "2026-12-02T18:02:31.000000Z [warning  ] Retrying in 2.0 s after 503 "
    "[airflow.task.hooks.airflow_provider_quo.hooks.quo.QuoHook]\n"
)


def test_provider_progress_line_is_shown_shortened() -> None:
    assert terminal_line(PROGRESS) == "  18:02:30 mark-as-read: 51/135 done (38%), 10.2/s\n"


def test_provider_warning_keeps_its_level() -> None:
    assert terminal_line(HOOK_WARNING) == "  18:02:31 WARNING Retrying in 2.0 s after 503\n"


def test_airflow_info_goes_only_to_the_file() -> None:
    assert terminal_line(AIRFLOW_INFO) is None


def test_airflow_errors_and_plain_output_are_shown() -> None:
    assert terminal_line(AIRFLOW_ERROR) == "  18:02:21 ERROR Task failed with exception [task]\n"
    xcom = "2026-12-02T18:41:24.000000Z [error    ] XCom not found [airflow.sdk.api.client] dag_id=x\n"
    assert terminal_line(xcom) == "  18:41:24 ERROR XCom not found [airflow.sdk.api.client]\n", "a healthy run has none"
    assert terminal_line("=== Check against the simulator\n") == "=== Check against the simulator\n"
    assert terminal_line('  File "x.py", line 1, in <module>\n') == '  File "x.py", line 1, in <module>\n'
