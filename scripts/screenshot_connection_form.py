"""Screenshot the real Airflow "Add Connection" form for type ``quo`` into ``docs/img/connection-form.png``.

Not run by CI or ``make test``: re-run it by hand when the form changes (new fields, a new Airflow).

1. Starts ``airflow standalone`` from the project's ``.venv`` (which has this provider installed,
   editable) in a throwaway ``AIRFLOW_HOME`` under /tmp, on port 8089, without the example DAGs,
   in a process group of its own (``setsid``).
2. Logs in as the ``admin`` user standalone creates (its password is in ``AIRFLOW_HOME``), opens
   Admin > Connections > Add Connection, types the id ``quo_default`` and picks the type Quo.
3. Captures the dialog twice: with "Standard Fields" open (the relabelled Base URL and API key) and
   with "Extra Fields" open (the provider's extras). The form shows one section at a time, so the
   PNG puts the two unedited captures side by side.
4. Stops Airflow's whole process group and deletes the throwaway directories.

Needs Debian's Chromium and its driver, and Selenium and Pillow in a throwaway venv (not project
dependencies)::

    apt-get update && apt-get install -y chromium chromium-driver
    python3 -m venv /tmp/shot-venv && /tmp/shot-venv/bin/pip install selenium pillow
    make lint   # builds .venv if missing
    /tmp/shot-venv/bin/python scripts/screenshot_connection_form.py

Takes about a minute (Airflow's start-up) and about 1 GiB of memory while Airflow runs.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

REPO = Path(__file__).resolve().parents[1]
CHROME_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1100,1400",
)
#: Pixels between the two captures, and their background.
GAP, BACKGROUND = 24, (241, 245, 249)
START_TIMEOUT = 240.0
UI_TIMEOUT = 30.0


def start_airflow(venv: Path, home: Path, port: int) -> subprocess.Popen[bytes]:
    """``airflow standalone`` in ``home`` on ``port``, in a new session (its own process group)."""
    (home / "dags").mkdir(parents=True)
    env = {
        **os.environ,
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",  # standalone runs `airflow ...`
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
    }
    log = (home / "standalone.log").open("wb")
    return subprocess.Popen(
        [str(venv / "bin" / "airflow"), "standalone"],
        env=env,
        cwd=home,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_until_healthy(base_url: str, process: subprocess.Popen[bytes]) -> None:
    """Poll the API server's health endpoint until it answers (or the process dies, or time runs out)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"airflow standalone exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{base_url}/api/v2/monitor/health", timeout=3) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(2)
    raise TimeoutError(f"Airflow did not answer on {base_url} within {START_TIMEOUT:.0f} s")


def admin_password(home: Path) -> str:
    """The password standalone generated for ``admin``."""
    path = home / "simple_auth_manager_passwords.json.generated"
    deadline = time.monotonic() + UI_TIMEOUT
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(1)
    return str(json.loads(path.read_text())["admin"])


def open_browser(profile: Path, chromium: str, driver: str) -> WebDriver:
    """Headless Chromium with a fresh profile and no background traffic."""
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (*CHROME_ARGS, f"--user-data-dir={profile}"):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service(driver))


def open_quo_form(browser: WebDriver, base_url: str, password: str) -> WebDriverWait[WebDriver]:
    """Log in and open the Add Connection dialog with the id ``quo_default`` and the type Quo."""
    wait = WebDriverWait(browser, UI_TIMEOUT)
    browser.get(f"{base_url}/auth/login")
    wait.until(expected_conditions.presence_of_element_located((By.NAME, "username"))).send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys(password + Keys.ENTER)
    wait.until(lambda b: "/auth/login" not in b.current_url)
    browser.get(f"{base_url}/connections")
    add = (By.XPATH, "//button[contains(., 'Add Connection')]")
    wait.until(expected_conditions.element_to_be_clickable(add)).click()
    wait.until(expected_conditions.presence_of_element_located((By.NAME, "connection_id"))).send_keys("quo_default")
    connection_type = browser.find_element(By.CSS_SELECTOR, "[role=dialog] [role=combobox]")
    connection_type.click()
    connection_type.send_keys("Quo")
    wait.until(expected_conditions.presence_of_element_located((By.XPATH, "//*[@role='option'][.='Quo']")))
    connection_type.send_keys(Keys.ENTER)
    wait.until(expected_conditions.visibility_of_element_located((By.NAME, "password")))
    return wait


def capture_dialog(browser: WebDriver) -> Image.Image:
    """The dialog as it looks now, after the page settles (accordion animations, focus rings)."""
    browser.find_element(By.CSS_SELECTOR, "[role=dialog] h2, [role=dialog] header").click()  # no focus ring
    time.sleep(1)
    png = browser.find_element(By.CSS_SELECTOR, "[role=dialog]").screenshot_as_png
    return Image.open(io.BytesIO(png)).convert("RGB")


def capture_form(browser: WebDriver, base_url: str, password: str, output: Path) -> None:
    """Capture the Quo form with its standard fields, then with its extra fields; save both side by side."""
    wait = open_quo_form(browser, base_url, password)
    standard = capture_dialog(browser)
    extra = (By.XPATH, "//button[contains(., 'Extra Fields') and not(contains(., 'JSON'))]")
    wait.until(expected_conditions.element_to_be_clickable(extra)).click()
    wait.until(expected_conditions.visibility_of_element_located((By.NAME, "element_requests_per_second")))
    extras = capture_dialog(browser)
    sheet = Image.new("RGB", (standard.width + GAP * 3 + extras.width, max(standard.height, extras.height) + GAP * 2))
    sheet.paste(BACKGROUND, (0, 0, sheet.width, sheet.height))
    sheet.paste(standard, (GAP, GAP))
    sheet.paste(extras, (standard.width + GAP * 2, GAP))
    output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(output, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=REPO / ".venv", help="venv with Airflow and this provider")
    parser.add_argument("--port", type=int, default=8089, help="the API server's port (not 8080, often taken)")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "img" / "connection-form.png")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--driver", default="/usr/bin/chromedriver")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="quo-connection-form-"))
    base_url = f"http://127.0.0.1:{args.port}"
    process = start_airflow(args.venv, scratch / "airflow-home", args.port)
    try:
        wait_until_healthy(base_url, process)
        browser = open_browser(scratch / "chromium-profile", args.chromium, args.driver)
        try:
            capture_form(browser, base_url, admin_password(scratch / "airflow-home"), args.output)
        finally:
            browser.quit()
        print(f"Saved {args.output} ({args.output.stat().st_size:,} bytes)")
    except Exception:
        print(f"Failed; Airflow's log: {scratch / 'airflow-home' / 'standalone.log'}")
        raise
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the whole group: scheduler, api-server, triggerer, ...
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
