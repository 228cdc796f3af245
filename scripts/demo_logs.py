"""Keep ``make demo`` readable: Airflow's own logging goes to a file, the terminal keeps what matters.

:func:`route_output_to_log` sends the process's stdout and stderr (file descriptors 1 and 2, so every
logger, print and child process alike) through a pipe. Every line lands in the log file; the terminal
gets only the demo's own lines, the provider's log lines (shortened) and Airflow's errors. Anything
that is not a structured log line (the demo's prints, tracebacks) is shown as it is.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading
from pathlib import Path
from typing import BinaryIO

#: An Airflow console log line: ``2026-12-02T18:02:30.528038Z [info     ] message [logger.name] key=value``.
LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT(?P<time>\d\d:\d\d:\d\d)\S*\s+\[(?P<level>\w+)\s*\]\s(?P<event>.*?)\s+\[(?P<logger>[\w.]+)\]"
)
ANSI_ESCAPE = re.compile(rb"\x1b\[[0-9;]*m")
#: Loggers whose lines the terminal shows: the provider's operators and hooks.
SHOWN_LOGGER = "airflow_provider_quo"
#: Levels shown from any logger.
SHOWN_LEVELS = frozenset({"error", "critical", "exception", "fatal"})


def terminal_line(line: str) -> str | None:
    """What the terminal shows for one line of output, or ``None`` to keep it only in the log file.

    :param line: one line, without ANSI colours.
    """
    match = LOG_LINE.match(line)
    if match is None:
        return line  # the demo's own output, or a traceback
    level = match["level"].lower()
    if SHOWN_LOGGER in match["logger"]:
        prefix = "" if level == "info" else f"{level.upper()} "
        return f"  {match['time']} {prefix}{match['event']}\n"
    if level in SHOWN_LEVELS:
        return f"  {match['time']} {level.upper()} {match['event']} [{match['logger']}]\n"
    return None


def _pump(source: BinaryIO, log: BinaryIO, terminal_fd: int) -> None:
    for raw in source:
        clean = ANSI_ESCAPE.sub(b"", raw)
        log.write(clean)
        log.flush()
        shown = terminal_line(clean.decode("utf-8", "replace"))
        if shown is not None:
            os.write(terminal_fd, shown.encode())


def route_output_to_log(log_path: Path) -> Path:
    """From now on, write all output to ``log_path`` and show only what :func:`terminal_line` keeps.

    Restores the terminal and drains the pipe at interpreter exit, then names the log file once more.

    :param log_path: the log file (truncated).
    :return: ``log_path``.
    """
    os.environ.setdefault("NO_COLOR", "1")  # plain lines in the log file
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 1)
    os.dup2(write_fd, 2)
    os.close(write_fd)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    log = log_path.open("wb")
    pump = threading.Thread(
        target=_pump, args=(os.fdopen(read_fd, "rb"), log, saved_out), name="demo-log-pump", daemon=True
    )
    pump.start()
    os.write(saved_out, f"(Airflow's own logging goes to {log_path}; shown here: the provider's lines)\n".encode())

    def restore() -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)  # the pipe's last writers are gone: the pump reads to the end and stops
        os.dup2(saved_err, 2)
        pump.join(timeout=5)
        log.close()
        print(f"Airflow's full log: {log_path}", flush=True)

    atexit.register(restore)
    return log_path
