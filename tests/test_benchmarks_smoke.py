"""Smoke test of the benchmark suite: the cheapest benchmark on tiny input yields a well-formed result.

Benchmarks report figures and assert nothing about speed; this only checks the plumbing (simulator
process, client process, figures, the tables), never a timing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import benchmarks
from benchmarks import listing
from benchmarks.__main__ import markdown, text_table
from benchmarks._common import make_context

pytestmark = pytest.mark.integration

FIGURE_KEYS = {
    "key", "label", "unit", "median", "min", "max", "spread_pct", "repeats",
    "samples", "target", "status", "params", "note",
}  # fmt: skip


def test_quick_listing_benchmark_produces_a_well_formed_result(tmp_path: Path) -> None:
    context = make_context(tmp_path, quick=True, progress=lambda message: None)

    result = listing.run(context, scenarios=[("unthrottled", 120, None, 0.0, 1)])

    assert "listing" in benchmarks.BENCHMARKS
    assert result["id"] == "listing"
    assert result["title"]
    assert "python -m benchmarks" in result["command"] or "make bench" in result["command"]
    assert result["figures"]
    for fig in result["figures"]:
        assert set(fig) == FIGURE_KEYS
        assert fig["repeats"] == len(fig["samples"]) == 1
        assert fig["status"] in {"met", "missed", "info"}
        assert fig["median"] is not None
    by_key = {fig["key"]: fig for fig in result["figures"]}
    assert by_key["listing.unthrottled.conversations_per_second"]["median"] > 0
    assert by_key["listing.unthrottled.http_429"]["median"] == 0
    json.dumps(result)  # the result file is JSON
    document = {"benchmarks": [result]}
    assert "| figure | median |" in markdown(document)
    assert "listing.unthrottled.conversations_per_second" in text_table(document)


def test_quick_incremental_benchmark_counts_both_runs_and_draws_its_plot(tmp_path: Path) -> None:
    from benchmarks import incremental

    context = make_context(tmp_path, quick=True, progress=lambda message: None)

    result = incremental.run(context, sizes=(300,))

    by_key = {fig["key"]: fig["median"] for fig in result["figures"]}
    assert by_key["incremental.300.requests"] < by_key["incremental.300.full_resweep_requests"]
    assert by_key["incremental.300.marks_per_needed"] == 1.0, "marks exactly what became stale and unread"
    assert by_key["incremental.300.listing_per_bound"] <= 1.0
    assert (tmp_path / "incremental-cleanup.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
