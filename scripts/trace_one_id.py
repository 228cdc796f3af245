"""Trace one conversation id marked by ``MarkConversationReadOperator``, from ``execute`` to the XCom, on the
bundled simulator: which of the provider's files and functions it passes through, and how often it moves
from one file to another.

    .venv/bin/python scripts/trace_one_id.py
"""

from __future__ import annotations

import itertools
import os
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any
from unittest.mock import MagicMock

PACKAGE = str(Path(__file__).resolve().parent.parent / "airflow_provider_quo")


def main() -> int:
    os.environ.setdefault("QUO_THROTTLE_DIR", tempfile.mkdtemp())
    from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator
    from airflow_provider_quo.testing import QuoSimulator

    with QuoSimulator(conversations=5) as sim:
        os.environ["AIRFLOW_CONN_QUO_DEFAULT"] = sim.connection_json({})
        conversation_id = sim.conversation_ids(deleted=False)[0]
        operator = MarkConversationReadOperator(task_id="trace", conversation_ids=[conversation_id])
        calls: list[tuple[str, str]] = []

        def profile(frame: FrameType, event: str, arg: Any) -> None:
            path = frame.f_code.co_filename
            if event == "call" and path.startswith(PACKAGE) and "/testing/" not in path:
                calls.append((os.path.relpath(path, PACKAGE), frame.f_code.co_qualname))

        sys.setprofile(profile)
        threading_profile = __import__("threading")
        threading_profile.setprofile(profile)
        try:
            operator.execute({"ti": MagicMock()})
        finally:
            sys.setprofile(None)
            threading_profile.setprofile(None)  # type: ignore[arg-type]
    files = sorted({path for path, _ in calls})
    functions = sorted(set(calls))
    hops = sum(1 for before, after in itertools.pairwise(calls) if before[0] != after[0])
    print(f"{len(files)} files, {len(functions)} functions, {hops} moves from one file to another")
    for path in files:
        names = sorted({name for file, name in functions if file == path})
        print(f"  {path}: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
