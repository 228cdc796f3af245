"""``python -m benchmarks``: run the benchmarks, print a table and write ``benchmarks/results/latest.json``.

Usage::

    .venv/bin/python -m benchmarks                 # everything (make bench), about 18 minutes on 2 cores
    .venv/bin/python -m benchmarks --quick         # tiny sizes, one repeat: a smoke run (< 1 minute)
    .venv/bin/python -m benchmarks --only ceiling  # some of them (repeatable; to a temp file unless --output)
    .venv/bin/python -m benchmarks --markdown      # print the tables of the last result file as Markdown
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks import BENCHMARKS, OPT_IN
from benchmarks._common import COMMAND, RESULTS_FILE, Context, machine_info, make_context, stamp, versions

SCHEMA_VERSION = 1


def _format(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "bool":
        return "yes" if value >= 1 else "no"
    if unit == "count" or (unit == "bytes" and value >= 100):
        return f"{value:,.0f}"
    magnitude = abs(value)
    digits = 3 if magnitude < 10 else 2 if magnitude < 100 else 1 if magnitude < 1000 else 0
    return f"{value:,.{digits}f}"


def _unit(unit: str) -> str:
    return {"ratio": "", "count": "", "bool": "", "1/s": "/s", "x": "x"}.get(unit, " " + unit)


def format_value(figure: dict[str, Any]) -> str:
    """The median with its unit, e.g. ``0.981`` or ``12.3 s``."""
    return _format(figure["median"], figure["unit"]) + _unit(figure["unit"])


def format_spread(figure: dict[str, Any]) -> str:
    """``min-max (n=3)`` or ``n=1``."""
    if figure["repeats"] <= 1:
        return "n=1"
    low, high = _format(figure["min"], figure["unit"]), _format(figure["max"], figure["unit"])
    return f"{low}-{high} (n={figure['repeats']}, ±{figure['spread_pct']:g}%)"


def format_target(figure: dict[str, Any]) -> str:
    """``≥ 0.95`` or ``-``."""
    target = figure["target"]
    if target is None:
        return "-"
    if figure["unit"] == "bool":
        return "yes"
    symbol = {">=": "≥", "<=": "≤", "==": "="}[target["op"]]
    return f"{symbol} {_format(target['value'], figure['unit'])}{_unit(figure['unit'])}"


def markdown(results: dict[str, Any]) -> str:
    """A Markdown table per benchmark: figure, median, spread, target, status."""
    lines: list[str] = []
    for bench in results["benchmarks"]:
        lines += [f"### {bench['title']}", "", f"Reproduce: `{bench['command']}`", ""]
        if bench.get("error"):
            lines += [f"**Failed:** `{bench['error']}`", ""]
        lines += ["| figure | median | spread (min-max) | target | status |", "| --- | --- | --- | --- | --- |"]
        for fig in bench["figures"]:
            label = fig["label"] + (f" ({fig['note']})" if fig.get("note") else "")
            status = {"met": "met", "missed": "**missed**", "info": "-"}[fig["status"]]
            lines.append(f"| {label} | {format_value(fig)} | {format_spread(fig)} | {format_target(fig)} | {status} |")
        lines.append("")
        lines += [f"- {note}" for note in bench.get("notes", [])]
        lines.append("")
    return "\n".join(lines)


def text_table(results: dict[str, Any]) -> str:
    """A plain-text summary of every figure."""
    rows = [("figure", "median", "spread", "target", "status")]
    for bench in results["benchmarks"]:
        if bench.get("error"):
            rows.append((f"{bench['id']}: FAILED", bench["error"][:60], "", "", "error"))
        for fig in bench["figures"]:
            rows.append((fig["key"], format_value(fig), format_spread(fig), format_target(fig), fig["status"]))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows)


def run_all(context: Context, selected: list[str]) -> dict[str, Any]:
    """Run the ``selected`` benchmarks in order and return the full result document."""
    started = time.perf_counter()
    results: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "suite": "airflow-provider-quo benchmarks",
        "mode": "quick" if context.quick else "full",
        "command": f"{COMMAND}{' --quick' if context.quick else ''}",
        "started_at": stamp(),
        "machine": machine_info(),
        "versions": versions(),
        "benchmarks": [],
    }
    prepared: Any = None
    if "alternatives" in selected:
        # Its database migration and first dag.test() are slow: start them now, beside the I/O-bound ceiling run.
        from benchmarks import alternatives

        context.progress("alternatives: preparing Airflow (migration, warm-up) in the background")
        prepared = alternatives.prepare(context)
    for name in selected:
        module = importlib.import_module(f"benchmarks.{name}")
        context.progress(f"{name}: {module.TITLE}")
        bench_started = time.perf_counter()
        try:
            result = module.run(context, prepared) if name == "alternatives" else module.run(context)
        except Exception as error:
            traceback.print_exc()
            result = {"id": name, "title": module.TITLE, "command": f"{COMMAND} --only {name}", "figures": []}
            result["error"] = f"{type(error).__name__}: {error}"
        result["duration_seconds"] = round(time.perf_counter() - bench_started, 1)
        context.progress(f"{name}: done in {result['duration_seconds']:.0f}s")
        results["benchmarks"].append(result)
    figures = [fig for bench in results["benchmarks"] for fig in bench["figures"]]
    results["summary"] = {
        status: sum(fig["status"] == status for fig in figures) for status in ("met", "missed", "info")
    }
    results["summary"]["errors"] = sum(1 for bench in results["benchmarks"] if bench.get("error"))
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["duration_seconds"] = round(time.perf_counter() - started, 1)
    return results


def _default_output(*, quick: bool, only: bool) -> Path:
    """Where results go without ``--output``: the published file only for a full run of every benchmark."""
    if quick or only:
        return Path(tempfile.gettempdir()) / f"quo-bench-{'quick' if quick else 'only'}.json"
    return RESULTS_FILE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat (smoke run, < 1 minute)")
    parser.add_argument(
        "--only", action="append", choices=BENCHMARKS + OPT_IN, help="run only this benchmark (repeatable)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help=f"result file (default: {RESULTS_FILE}; with --quick or --only: a temp file, so a partial run never "
        "replaces the published full results)",
    )
    parser.add_argument("--markdown", action="store_true", help="print the Markdown tables of the result file")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the temporary directory (child logs)")
    args = parser.parse_args(argv)

    output: Path = args.output or _default_output(quick=args.quick, only=bool(args.only))
    if args.markdown:
        print(markdown(json.loads(output.read_text())))
        return 0
    selected = [name for name in BENCHMARKS + OPT_IN if name in (args.only or BENCHMARKS)]
    workdir = Path(tempfile.mkdtemp(prefix="quo-bench-"))
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {message}", flush=True)

    context = make_context(workdir, quick=args.quick, progress=progress)
    try:
        results = run_all(context, selected)
    finally:
        if args.keep_workdir:
            progress(f"child logs kept in {workdir / 'logs'}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(".json.tmp")
    partial.write_text(json.dumps(results, indent=2) + "\n")
    partial.replace(output)
    print()
    print(text_table(results))
    summary = results["summary"]
    print(
        f"\n{summary['met']} met, {summary['missed']} missed, {summary['info']} reported only, "
        f"{summary['errors']} errors; {results['duration_seconds']:.0f}s; written to {output}"
    )
    return 1 if summary["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
