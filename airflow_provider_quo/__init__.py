"""Apache Airflow provider for the Quo (formerly OpenPhone) public API."""

from __future__ import annotations

__version__ = "0.1.0"
