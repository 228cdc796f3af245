"""Run the Quo simulator from the command line: ``python -m airflow_provider_quo.testing --help``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import datetime, timezone
from types import FrameType

from airflow_provider_quo.testing.admin import ActivityRates, parse_start
from airflow_provider_quo.testing.faults import ALL_KINDS, ERROR_BODIES, HOSTILE_KINDS, Faults
from airflow_provider_quo.testing.ratelimit import WINDOW_KINDS
from airflow_provider_quo.testing.simulator import QuoSimulator

#: Not 8080: that is Airflow's own API server, which a user testing DAGs often has running.
DEFAULT_PORT = 8765


def build_parser() -> argparse.ArgumentParser:
    """The command line options."""
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_quo.testing",
        description="A local fake of the Quo (OpenPhone) v1 API for testing Airflow DAGs offline.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    add("--port", type=int, default=DEFAULT_PORT, help=f"port (0: a free port; default {DEFAULT_PORT})")
    add("--api-key", default="test-key", help="the accepted Authorization value (default test-key)")
    add("--conversations", type=int, default=50, help="seeded conversations (default 50)")
    add("--phone-numbers", type=int, default=3, help="workspace phone numbers (default 3)")
    add("--seed", type=int, default=0, help="random seed of data and faults (default 0)")
    add(
        "--now",
        "--start",
        dest="now",
        default=None,
        help="where the clock starts and the data's ages are relative to: an ISO 8601 instant, a date "
        "(2026-11-01: midnight UTC) or a duration from now (--start=-P7D: a week ago); default: now",
    )
    add("--active-fraction", type=float, default=0.02, help="share of conversations messaged per simulated day")
    add("--new-per-day", type=int, default=3, help="conversations started per simulated day (default 3)")
    add("--snooze-fraction", type=float, default=0.005, help="share of conversations snoozed per simulated day")
    add("--rate-limit", type=float, default=None, help="requests/second per key, 429 beyond (default: none)")
    add("--rate-limit-window", default="bucket", choices=WINDOW_KINDS, help="token bucket or fixed 1 s windows")
    add("--other-client", type=float, default=0.0, help="requests/second another client spends of the key's budget")
    add("--no-rate-limit-headers", action="store_true", help="state no RateLimit-Policy/RateLimit header fields")
    add("--latency", type=float, default=0.0, help="seconds added to every response")
    add("--error-rate", type=float, default=0.0, help="fraction of requests answered by a fault")
    add("--kinds", default="500,502,503,429,drop", help=f"comma-separated fault kinds from {','.join(ALL_KINDS)}")
    add("--error-body", default="json", choices=ERROR_BODIES, help="body of fault error responses")
    add("--retry-after", type=float, default=None, help="Retry-After seconds on 429 answers")
    add("--slow-seconds", type=float, default=2.0, help="delay of 'slow' faults")
    add("--hostile", default=None, choices=HOSTILE_KINDS, help="answer every request with this misbehaviour")
    add("--verbose", "-v", action="store_true", help="log every request to stderr")
    return parser


def simulator_from_args(args: argparse.Namespace) -> QuoSimulator:
    """A (not yet started) simulator configured from parsed options.

    :param args: the result of :func:`build_parser`'s ``parse_args``.
    """
    faults = Faults(
        error_rate=args.error_rate,
        kinds=tuple(kind.strip() for kind in args.kinds.split(",") if kind.strip()),
        error_body=args.error_body,
        retry_after=args.retry_after,
        slow_seconds=args.slow_seconds,
        hostile=args.hostile,
    )
    simulator = QuoSimulator(
        api_key=args.api_key,
        conversations=args.conversations,
        phone_numbers=args.phone_numbers,
        seed=args.seed,
        now=None if args.now is None else parse_start(args.now, datetime.now(timezone.utc)),
        rate_limit=args.rate_limit,
        latency=args.latency,
        faults=faults,
        port=args.port,
        host=args.host,
        log_requests=args.verbose,
        rate_limit_window=args.rate_limit_window,
        other_client=args.other_client,
        activity=ActivityRates(args.active_fraction, args.new_per_day, args.snooze_fraction),
    )
    simulator.rate_limit_headers = not args.no_rate_limit_headers
    return simulator


def main(argv: Sequence[str] | None = None) -> int:
    """Start the simulator, print how to connect, serve until Ctrl-C or SIGTERM.

    :param argv: the arguments (default: ``sys.argv[1:]``).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        simulator = simulator_from_args(args)
    except ValueError as error:
        parser.error(str(error))
    try:
        simulator.start()
    except OSError as error:
        parser.error(f"cannot listen on {args.host}:{args.port}: {error.strerror or error} (--port 0 picks a free one)")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with simulator:
        print(f"Quo simulator listening on {simulator.base_url}", flush=True)
        print(f"AIRFLOW_CONN_QUO_DEFAULT='{simulator.connection_json()}'", flush=True)
        print(_hints(simulator), file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    print("Quo simulator stopped", file=sys.stderr, flush=True)
    return 0


def _hints(simulator: QuoSimulator) -> str:
    """What to do next: the connection for a running Airflow, the clock, the admin endpoints."""
    url = simulator.base_url
    return "\n".join(
        [
            "For a running Airflow (its scheduler does not see an exported variable):",
            f"  airflow connections add quo_default --conn-type quo --conn-password '{simulator.api_key}' "
            f"--conn-host {url}",
            f"Clock: {simulator.now().isoformat()}  (GET/POST {url}/_simulator/clock)",
            f"A day's activity over the next 10 minutes, for runs triggered now: "
            f"curl -X POST '{url}/_simulator/activity?over=PT10M'",
            f"A whole simulated day (the clock jumps a day; for `airflow dags test <dag> <that day>`): "
            f"curl -X POST {url}/_simulator/activity",
            f"Stats: {url}/_simulator/stats  Unread: {url}/_simulator/unread  (Ctrl-C to stop)",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
