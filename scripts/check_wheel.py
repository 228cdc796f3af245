"""Install the BUILT wheel into a fresh virtualenv and check it works as a user would find it.

``make dist-check`` (and so CI) runs ``python scripts/check_wheel.py dist/airflow_provider_quo-*.whl``.
Packaging mistakes (a module left out of the wheel, a broken entry point, a version mismatch) fail here
even when the test suite, which runs from the source tree, passes. Checks, outside the source tree:

1. the package imports from the venv's site-packages, with the wheel's version, and its pytest plugin
   entry point is registered;
2. ``airflow providers list`` shows ``airflow-provider-quo`` at that version;
3. ``airflow providers hooks`` registers the connection type ``quo`` with ``QuoHook``;
4. the simulator CLI (``python -m airflow_provider_quo.testing --port 0``) prints the URL it bound,
   answers ``GET /_simulator/stats`` there, and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

PACKAGE = "airflow-provider-quo"
STARTUP_TIMEOUT = 60.0


def run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run a command, fail loudly with its output if it fails, return its stdout."""
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise SystemExit(f"FAILED: {' '.join(command)}\n{result.stdout}\n{result.stderr}")
    return result.stdout


def check(ok: bool, label: str) -> None:
    print(f"  [{'ok' if ok else 'FAILED'}] {label}", flush=True)
    if not ok:
        raise SystemExit(1)


def fresh_venv(root: Path, wheel: Path, env: dict[str, str]) -> Path:
    """A new virtualenv under ``root`` with only the wheel (and its dependencies) installed; its ``bin``."""
    venv = root / "venv"
    uv = [sys.executable, "-m", "uv"]
    run([*uv, "venv", "--quiet", "--python", sys.executable, str(venv)], root, env)
    run([*uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), str(wheel)], root, env)
    return venv / "bin"


def check_import(bin_dir: Path, root: Path, env: dict[str, str], version: str) -> None:
    code = (
        "import json, importlib.metadata as m, airflow_provider_quo as p; "
        "print(json.dumps([p.__file__, p.__version__, [e.name for e in m.entry_points(group='pytest11')]]))"
    )
    path, found_version, plugins = json.loads(run([str(bin_dir / "python"), "-c", code], root, env))
    check(Path(path).is_relative_to(bin_dir.parent), f"imports from the fresh venv ({path})")
    check(found_version == version, f"__version__ {found_version} is the wheel's {version}")
    check("quo_simulator" in plugins, "pytest plugin entry point quo_simulator registered")


def check_airflow_registration(bin_dir: Path, root: Path, env: dict[str, str], version: str) -> None:
    airflow = str(bin_dir / "airflow")
    providers = json.loads(run([airflow, "providers", "list", "--output", "json"], root, env))
    versions = {p.get("package_name"): p.get("version") for p in providers}
    check(versions.get(PACKAGE) == version, f"`airflow providers list` shows {PACKAGE} {versions.get(PACKAGE)}")
    hooks = json.loads(run([airflow, "providers", "hooks", "--output", "json"], root, env))
    quo = [h for h in hooks if h.get("connection_type") == "quo"]
    check(
        bool(quo) and quo[0].get("class") == "airflow_provider_quo.hooks.quo.QuoHook",
        f"`airflow providers hooks` registers connection type quo: {quo}",
    )


def first_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The first line the process prints, waiting at most ``timeout`` seconds."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline() if process.stdout else ""))
    reader.start()
    reader.join(timeout)
    return lines[0] if lines else ""


def check_simulator_cli(bin_dir: Path, root: Path, env: dict[str, str]) -> None:
    command = [str(bin_dir / "python"), "-m", "airflow_provider_quo.testing", "--port", "0"]
    process = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = first_line(process, STARTUP_TIMEOUT)
        check(line.startswith("Quo simulator listening on http://127.0.0.1:"), f"simulator CLI started: {line.strip()}")
        with urllib.request.urlopen(line.split()[-1] + "/_simulator/stats", timeout=10) as response:
            stats = json.load(response)
        check(isinstance(stats, dict), f"GET /_simulator/stats answered {sorted(stats)[:4]}...")
        process.send_signal(signal.SIGTERM)
        check(process.wait(timeout=30) == 0, "simulator CLI stopped on SIGTERM with exit code 0")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].endswith(".whl"):
        raise SystemExit("usage: check_wheel.py dist/airflow_provider_quo-VERSION-py3-none-any.whl")
    wheel = Path(argv[0]).resolve()
    version = wheel.name.split("-")[1]
    print(f"Checking {wheel.name} in a fresh virtualenv", flush=True)
    with tempfile.TemporaryDirectory(prefix="quo-wheel-check-") as tmp:
        root = Path(tmp)  # outside the source tree: nothing can import the checkout by accident
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHONPATH", "VIRTUAL_ENV"))}
        env |= {"AIRFLOW_HOME": str(root / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
        bin_dir = fresh_venv(root, wheel, env)
        check_import(bin_dir, root, env, version)
        check_airflow_registration(bin_dir, root, env, version)
        check_simulator_cli(bin_dir, root, env)
    print(f"{wheel.name}: installs and works outside the source tree", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
