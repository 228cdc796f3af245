"""A key forbidden on some phone numbers, or on all of them, against the simulator on 127.0.0.1.

A 403 is per phone number: that id fails and the run carries on. Only when the first
``PERMISSION_EVIDENCE_CALLS`` outcomes are all 403 does the run stop, and stopping early is never a
success. (One success among them means the key can act: ``test_operator_mark_outcomes.py``.)
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from airflow_provider_quo.exceptions import QuoBulkMarkError
from airflow_provider_quo.operators._mark_base import PERMISSION_EVIDENCE_CALLS
from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator
from airflow_provider_quo.testing import Faults, QuoSimulator
from tests.mark_summary import assert_invariant, run_operator

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("fail_on_error", [True, False])
def test_a_forbidden_number_fails_its_ids_and_the_rest_are_marked(
    connect: Callable[..., None], fail_on_error: bool
) -> None:
    with QuoSimulator(api_key="perm-key", conversations=60, phone_numbers=3, seed=2) as sim:
        forbidden = sim.phone_numbers[0]["id"]
        sim.faults = Faults(forbidden_numbers=(forbidden,))
        ids = sim.conversation_ids(deleted=False)
        on_number = {cid for cid in ids if sim.conversation(cid)["phoneNumberId"] == forbidden}
        connect(sim)

        summary, error = run_operator(
            MarkConversationReadOperator(task_id="perm", conversation_ids=ids, fail_on_error=fail_on_error)
        )

        if fail_on_error:
            assert isinstance(error, QuoBulkMarkError), "the task fails, after every id was tried"
        else:
            assert error is None
        assert set(summary["failed"]) == on_number
        assert all("403 Not Phone Number User" in reason for reason in summary["failed"].values())
        assert summary["marked_count"] == len(ids) - len(on_number)
        assert summary["not_attempted_count"] == 0
        assert sim.read_ids() == set(ids) - on_number
        assert len(sim.requests) == len(ids), "every id tried once: nothing stopped, nothing retried"
        assert_invariant(summary)


@pytest.mark.parametrize("workers", [1, 4])
def test_a_key_allowed_on_no_number_stops_after_the_first_20_all_403(
    connect: Callable[..., None], workers: int
) -> None:
    with QuoSimulator(api_key="perm-key", conversations=300, phone_numbers=2, seed=2) as sim:
        sim.faults = Faults(forbidden_numbers=tuple(number["id"] for number in sim.phone_numbers))
        ids = sim.conversation_ids(deleted=False)
        connect(sim)

        summary, error = run_operator(
            MarkConversationReadOperator(task_id="perm", conversation_ids=ids, max_workers=workers, fail_on_error=False)
        )

        assert isinstance(error, QuoBulkMarkError), "stopping early is never a success, even with fail_on_error=False"
        assert f"the first {PERMISSION_EVIDENCE_CALLS} calls all answered 403" in str(error)
        assert "Not Phone Number User" in str(error)
        sent = len(sim.requests)
        assert PERMISSION_EVIDENCE_CALLS <= sent <= PERMISSION_EVIDENCE_CALLS + 3 * workers, "calls under way only"
        assert summary["failed_count"] == sent, "every id sent is accounted for"
        assert summary["not_attempted_count"] == len(ids) - sent
        assert error.summary["requested"] == len(ids)  # type: ignore[attr-defined]
        assert sim.read_ids() == set()
        assert_invariant(summary)
