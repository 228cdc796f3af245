"""The HTTP session every QuoHook request goes through, and which transport failures are transient."""

from __future__ import annotations

import os

import requests
from requests.adapters import HTTPAdapter

from airflow_provider_quo import __version__

#: Connections kept alive per host: enough for the bulk runner's largest default pool of workers.
POOL_MAXSIZE = 64

#: Transport failures worth retrying: no response at all, or a response cut off mid-body.
TRANSIENT_TRANSPORT_ERRORS: tuple[type[requests.RequestException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


def build_session(api_key: str, base_url: str) -> requests.Session:
    """A keep-alive session that sends the raw key (no ``Bearer``) and JSON ``Accept`` on every request.

    Its connection pool is thread-safe, so one session serves every worker thread of a bulk run.

    :param api_key: the Quo API key, sent as ``Authorization: <key>``.
    :param base_url: the API root, used to pick the proxy settings once.
    """
    session = requests.Session()
    session.headers.update(
        {
            "Authorization": api_key,
            "Accept": "application/json",
            "User-Agent": f"airflow-provider-quo/{__version__} python-requests/{requests.__version__}",
        }
    )
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_MAXSIZE, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # With trust_env, requests re-scans os.environ for proxies (and ~/.netrc, which would replace the
    # Authorization header) on every request: about a third of the client CPU per mark. Read the
    # proxies (NO_PROXY applied to this host) and the CA bundle from the environment once instead.
    session.trust_env = False
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return session
