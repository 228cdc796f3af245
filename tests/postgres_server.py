"""A throwaway PostgreSQL server on 127.0.0.1 for the metadata DB, as production deployments run it.

``QUO_TEST_DB=postgres pytest ...`` (``make test-postgres``) starts one per test session: ``initdb`` into
a temp dir and ``pg_ctl start`` on a free port, as user ``postgres`` when run as root (CI), then
``pg_ctl stop`` and the dir removed at exit. Debian's ``postgresql`` package provides the binaries
(``make postgresql`` installs it); they live in ``/usr/lib/postgresql/<version>/bin``, off the PATH.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def postgres_bin(name: str) -> str:
    """The path of a PostgreSQL server program (``initdb``, ``pg_ctl``)."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise RuntimeError(f"{name} not found: `make postgresql` installs Debian's postgresql package")
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """One PostgreSQL cluster in a temp dir, trusting local connections, on a free 127.0.0.1 port."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="quo-postgres-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_postgres = os.geteuid() == 0  # the server refuses to run as root

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the ``postgres`` database, for ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``."""
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", *args] if self.as_postgres else list(args)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def start(self) -> PostgresServer:
        """``initdb`` and start the server; returns when it accepts connections."""
        if self.as_postgres:
            shutil.chown(self.root, user="postgres")
        self._run(postgres_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c full_page_writes=off"
        self._run(
            postgres_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start"
        )
        return self

    def stop(self) -> None:
        """Stop the server and remove its files."""
        try:
            self._run(postgres_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
