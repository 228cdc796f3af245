"""Task processes that share one API key, for the key-wide benchmark and tests.

Each child is a real process (forked from a forkserver that imported the hook once, as an Airflow worker
forks its task processes from a supervisor that imported Airflow): it takes the parent's environment as it
was when :func:`run_task_processes` was called, plus its job's ``env``, builds a ``QuoHook`` on ``conn``,
says it is ready, waits until the file ``go`` exists (so every process starts at once), marks its ``ids``
through ``QuoHook.mark_conversations`` and sends back its marked and failed ids, the warnings the provider
logged, wall and CPU seconds. Its stdout and stderr go to a file of its own, returned as ``stderr``.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import resource
import sys
import time
import uuid
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
#: What the forkserver imports once, so that no child pays Airflow's import (seconds of CPU each).
PRELOAD = ["airflow_provider_quo.hooks.quo"]


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _child(job: dict[str, Any], environ: dict[str, str], stderr_path: str, pipe: Connection) -> None:
    """One task process: see the module's docstring."""
    with open(stderr_path, "w") as log:  # stdout too: Airflow's structlog may write there
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    os.environ.clear()
    os.environ.update({**environ, **job.get("env", {}), "AIRFLOW_CONN_QUO_DEFAULT": job["conn"]})
    from airflow_provider_quo.hooks.quo import QuoHook

    collect = Collect()
    logging.getLogger("airflow_provider_quo").addHandler(collect)
    hook = QuoHook(requests_per_second=job.get("rate"))
    _ = hook.settings, hook.session, hook.budget
    pipe.send("ready")
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
    pipe.send(
        {
            "marked": marked,
            "failed": failed,
            "warnings": collect.messages,
            "elapsed": time.perf_counter() - started,
            "cpu": usage.ru_utime + usage.ru_stime - cpu,
        }
    )


def _context() -> Any:
    """The forkserver context, preloading the hook (the forkserver starts on first use, once per process)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def _receive(pipe: Connection, process: Any, timeout: float) -> Any:
    """The next message from a child, or ``None`` if it ended (or the timeout passed) without one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pipe.poll(0.05):
            try:
                return pipe.recv()
            except EOFError:
                return None
        if not process.is_alive() and not pipe.poll(0):
            return None
    return None


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
    :param workdir: where the start signal file and the children's stderr files are created.
    :param during: called once every child has started (e.g. to stop Redis mid-run).
    :param timeout: seconds each child may take.
    """
    context = _context()
    go = workdir / f"go-{uuid.uuid4().hex}"
    logs = [workdir / f"{go.name}-{n}.stderr" for n in range(len(jobs))]
    environ = dict(os.environ)
    if str(REPO) not in environ.get("PYTHONPATH", "").split(os.pathsep):
        environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), environ.get("PYTHONPATH")]))
    children = []
    for job, log_path in zip(jobs, logs, strict=True):
        ours, theirs = context.Pipe()
        process = context.Process(target=_child, args=({**job, "go": str(go)}, environ, str(log_path), theirs))
        process.start()
        theirs.close()
        children.append((process, ours))
    for number, (process, pipe) in enumerate(children):
        if _receive(pipe, process, timeout) != "ready":
            for other, _ in children:
                other.kill()
            said = logs[number].read_text()[-2000:] if logs[number].exists() else "(no stderr)"
            raise RuntimeError(f"a task process failed to start: {said}")
    go.touch()
    if during is not None:
        during()
    results = []
    for (process, pipe), log_path in zip(children, logs, strict=True):
        message = _receive(pipe, process, timeout)
        process.join(timeout)
        result: dict[str, Any] = message if isinstance(message, dict) else {"marked": [], "failed": {}, "warnings": []}
        result["stderr"] = log_path.read_text()
        log_path.unlink()
        result["returncode"] = process.exitcode
        results.append(result)
    go.unlink(missing_ok=True)
    return results
