"""Shared machinery of the benchmarks: figures and their statistics, machine facts, client processes.

Nothing here imports Airflow: the orchestrating process stays light, and every client measurement
runs in a spawned child whose environment (a temporary ``AIRFLOW_HOME``) is set before Airflow loads.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"
RESULTS_FILE = RESULTS_DIR / "latest.json"
COMMAND = ".venv/bin/python -m benchmarks"
MIB = 1024 * 1024

T = TypeVar("T")


@dataclass
class Context:
    """What every benchmark gets: the mode, the client environment and a place for logs.

    :param quick: tiny sizes and one repeat (a smoke run, not figures to publish).
    :param workdir: a temporary directory (Airflow home, DAGs folder, child logs).
    :param env: environment variables for client children (Airflow home, database, DAGs folder).
    :param progress: where progress lines go.
    """

    quick: bool
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    progress: Callable[[str], None] = print

    def log_file(self, name: str) -> Path:
        """The file a child's stdout and stderr are redirected to."""
        return self.workdir / "logs" / f"{name}.log"


def make_context(workdir: Path, *, quick: bool, progress: Callable[[str], None] = print) -> Context:
    """A :class:`Context` with a fresh Airflow home, SQLite database and DAGs folder under ``workdir``."""
    home = workdir / "airflow-home"
    dags = workdir / "dags"
    for folder in (home, dags, workdir / "logs"):
        folder.mkdir(parents=True, exist_ok=True)
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        # 1,000 mapped tasks stay under the default 1,024; raised so larger cases are possible.
        "AIRFLOW__CORE__MAX_MAP_LENGTH": "4096",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")])),
    }
    return Context(quick=quick, workdir=workdir, env=env, progress=progress)


# -- statistics and figures -------------------------------------------------------------------------


def summarize(samples: Sequence[float]) -> dict[str, Any]:
    """Median, min, max and half the range relative to the median (``spread_pct``) of ``samples``."""
    values = [float(v) for v in samples]
    if not values:
        return {"median": None, "min": None, "max": None, "spread_pct": None, "repeats": 0}
    median = statistics.median(values)
    half_range = (max(values) - min(values)) / 2
    return {
        "median": median,
        "min": min(values),
        "max": max(values),
        "spread_pct": round(100 * half_range / abs(median), 1) if median else 0.0,
        "repeats": len(values),
    }


_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda value, bound: value >= bound,
    "<=": lambda value, bound: value <= bound,
    "==": lambda value, bound: value == bound,
}


def figure(
    key: str,
    label: str,
    samples: Sequence[float],
    unit: str,
    *,
    target: tuple[str, float] | None = None,
    params: dict[str, Any] | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """One reported figure: the samples, their summary, the target (``(">=", 0.95)``) and met/missed.

    :param key: a stable dotted id, e.g. ``"ceiling.10rps_250ms.efficiency"``.
    :param label: what it is, for the tables.
    :param samples: one value per repeat.
    :param unit: unit of the values.
    :param target: operator and bound the median must satisfy, or ``None`` (reported only).
    :param params: the conditions (sizes, latency, limit...).
    :param note: a short remark shown beside the figure.
    """
    stats = summarize(samples)
    status = "info"
    target_dict = None
    if target is not None:
        op, bound = target
        target_dict = {"op": op, "value": bound}
        status = "met" if stats["median"] is not None and _OPS[op](stats["median"], bound) else "missed"
    return {
        "key": key,
        "label": label,
        "unit": unit,
        **stats,
        "samples": [round(float(v), 6) for v in samples],
        "target": target_dict,
        "status": status,
        "params": params or {},
        "note": note,
    }


def status_figure(
    key: str, label: str, ok: bool, detail: str, *, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A yes/no figure (e.g. "the serial loop fails on the first 429"): met if ``ok``."""
    return figure(key, label, [1.0 if ok else 0.0], "bool", target=("==", 1.0), params=params, note=detail)


# -- machine and versions ---------------------------------------------------------------------------


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_total_mb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024, 0)
    except OSError:
        pass
    return None


def machine_info() -> dict[str, Any]:
    """Cores, CPU model, memory, OS and load average of this machine."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 0
    return {
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "cpu_model": _cpu_model(),
        "memory_mb": _memory_total_mb(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def versions() -> dict[str, Any]:
    """Python and the versions of the packages the figures depend on."""
    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "apache-airflow": _version("apache-airflow"),
        "apache-airflow-task-sdk": _version("apache-airflow-task-sdk"),
        "apache-airflow-providers-http": _version("apache-airflow-providers-http"),
        "airflow-provider-quo": _version("airflow-provider-quo"),
        "requests": _version("requests"),
        "urllib3": _version("urllib3"),
        "tenacity": _version("tenacity"),
    }


# -- client processes -------------------------------------------------------------------------------


def _init_child(env: dict[str, str], log_path: str) -> None:
    os.environ.update(env)
    repo = str(REPO)
    if repo not in sys.path:
        sys.path.insert(0, repo)
    descriptor = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    os.close(descriptor)


class ClientProcess:
    """One spawned Python process that runs client-side measurement functions, one call at a time.

    Its stdout and stderr go to a log file; its environment is the context's (set before any import
    of Airflow). Successive calls run in the same process (warm imports); use a new one for
    measurements that need a fresh process (peak RSS).
    """

    def __init__(self, context: Context, name: str) -> None:
        self.name = name
        self.log_path = context.log_file(name)
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=get_context("spawn"),
            initializer=_init_child,
            initargs=(context.env, str(self.log_path)),
        )

    def submit(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        """Start ``function(*args, **kwargs)`` in the child; the future holds its (pickled) result."""
        return self._pool.submit(function, *args, **kwargs)

    def call(self, function: Callable[..., T], *args: Any, timeout: float = 900, **kwargs: Any) -> T:
        """Run ``function(*args, **kwargs)`` in the child and return its result."""
        return self.submit(function, *args, **kwargs).result(timeout=timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def client_process(context: Context, name: str) -> Iterator[ClientProcess]:
    """A :class:`ClientProcess` shut down on exit."""
    process = ClientProcess(context, name)
    try:
        yield process
    finally:
        process.close()


# -- helpers used inside client children -------------------------------------------------------------


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (all its threads) so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def quiet_airflow_logging() -> None:
    """Keep operator INFO lines out of measured loops (they go to the child's log file anyway)."""
    import logging

    logging.getLogger("airflow.task").setLevel(logging.WARNING)


def run_mark_operator(
    conn_json: str,
    conversation_ids: list[str],
    *,
    include_marked_ids: bool = True,
    max_workers: int | None = None,
) -> dict[str, Any]:
    """In a client child: ``MarkConversationReadOperator.execute`` on ``conversation_ids``.

    Returns wall seconds, CPU seconds of this process during the run, the counts, and the size of
    the returned summary as JSON (the XCom ``return_value``).
    """
    from unittest.mock import MagicMock

    from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator

    os.environ["AIRFLOW_CONN_QUO_DEFAULT"] = conn_json
    os.environ["QUO_THROTTLE_DIR"] = tempfile.mkdtemp(prefix="quo-bench-")  # nothing learnt by an earlier run
    operator = MarkConversationReadOperator(
        task_id="bench_mark",
        conversation_ids=conversation_ids,
        include_marked_ids=include_marked_ids,
        max_workers=max_workers,
        progress_interval=3600,
    )
    context: Any = {"ti": MagicMock()}
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    result = operator.execute(context)
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds() - cpu_before
    return {
        "elapsed": elapsed,
        "cpu": cpu,
        "requested": result["requested"],
        "marked": result["marked_count"],
        "not_found": result["not_found_count"],
        "failed": result["failed_count"],
        "xcom_bytes": len(json.dumps(result)),
    }


def stamp() -> str:
    """The current UTC time, ISO 8601."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
