"""Task processes that share one API key, for the key-wide benchmark and tests.

A child (``python -m benchmarks._taskproc < job.json``) reads ``{"conn": <connection JSON>, "ids": [...],
"go": <path>, "rate": <task cap or null>}``, prints ``ready``, waits until the file ``go`` exists (so
every process starts at once), marks the ids through ``QuoHook.mark_conversations`` and prints one
JSON line: marked and failed ids, the warnings the provider logged, wall and CPU seconds.
:func:`run_task_processes` starts several and collects their results.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def main() -> None:
    job = json.loads(sys.stdin.read())
    os.environ["AIRFLOW_CONN_QUO_DEFAULT"] = job["conn"]
    from airflow_provider_quo.hooks.quo import QuoHook

    collect = Collect()
    logging.getLogger("airflow_provider_quo").addHandler(collect)
    hook = QuoHook(requests_per_second=job.get("rate"))
    _ = hook.settings, hook.session, hook.budget
    print("ready", flush=True)
    while not Path(job["go"]).exists():
        time.sleep(0.01)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    marked, failed = [], {}
    for outcome in hook.mark_conversations(job["ids"]):
        if outcome.error is None:
            marked.append(outcome.item)
        else:
            failed[outcome.item] = f"{type(outcome.error).__name__}: {outcome.error}"
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "marked": marked,
        "failed": failed,
        "warnings": collect.messages,
        "elapsed": time.perf_counter() - started,
        "cpu": usage.ru_utime + usage.ru_stime - cpu,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()


def _wait_ready(child: subprocess.Popen[str]) -> bool:
    assert child.stdout is not None
    return any(line.strip() == "ready" for line in child.stdout)


def _start_children(jobs: list[dict[str, Any]], logs: list[Path], go: Path) -> list[subprocess.Popen[str]]:
    """Start one task process per job, its stderr to its log; each waits for ``go`` to exist."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    children = []
    for job, log_path in zip(jobs, logs, strict=True):
        with log_path.open("w") as log:
            child = subprocess.Popen(
                [sys.executable, "-m", "benchmarks._taskproc"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=REPO,
                env={**env, **job.get("env", {})},
                text=True,
            )
        assert child.stdin is not None
        child.stdin.write(json.dumps({**job, "go": str(go)}))
        child.stdin.close()
        children.append(child)
    return children


def _collect(child: subprocess.Popen[str], log_path: Path, timeout: float) -> dict[str, Any]:
    """Wait for a task process; its result line plus its ``stderr`` (the log is then removed) and return code."""
    assert child.stdout is not None
    out = child.stdout.read()
    child.wait(timeout=timeout)
    lines = [line for line in out.splitlines() if line.startswith('{"marked"')]
    result: dict[str, Any] = json.loads(lines[-1]) if lines else {"marked": [], "failed": {}, "warnings": []}
    result["stderr"] = log_path.read_text()
    log_path.unlink()
    result["returncode"] = child.returncode
    return result


def run_task_processes(
    jobs: list[dict[str, Any]],
    workdir: Path,
    *,
    during: Callable[[], None] | None = None,
    timeout: float = 600,
) -> list[dict[str, Any]]:
    """Run one child per job, all starting at once; return each child's result plus its ``stderr``.

    :param jobs: per child: ``conn`` (connection JSON), ``ids``, optional ``rate`` (task cap) and ``env``
        (extra environment variables, e.g. its own ``QUO_THROTTLE_DIR`` to act as another host).
    :param workdir: where the start signal file is created.
    :param during: called once every child has started (e.g. to stop Redis mid-run).
    :param timeout: seconds each child may take.
    """
    go = workdir / f"go-{uuid.uuid4().hex}"
    logs = [workdir / f"{go.name}-{n}.stderr" for n in range(len(jobs))]
    children = _start_children(jobs, logs, go)
    for number, child in enumerate(children):
        if not _wait_ready(child):  # Airflow may log to stdout first
            for other in children:
                other.kill()
            raise RuntimeError(f"a task process failed to start: {logs[number].read_text()[-2000:]}")
    go.touch()
    if during is not None:
        during()
    results = [_collect(child, log_path, timeout) for child, log_path in zip(children, logs, strict=True)]
    go.unlink(missing_ok=True)
    return results
