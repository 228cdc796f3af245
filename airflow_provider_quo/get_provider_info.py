"""Provider metadata read by Airflow's ProvidersManager through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_quo import __version__

HOOK_CLASS = "airflow_provider_quo.hooks.quo.QuoHook"


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata: package, integrations, hook, operators and the ``quo`` connection."""
    integration = "Quo"
    return {
        "package-name": "airflow-provider-quo",
        "name": "Quo",
        "description": "`Quo <https://www.quo.com/>`__ (formerly OpenPhone): mark conversations read, "
        "done or open, and clean up stale unread inboxes at the API's rate limit.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": integration,
                "external-doc-url": "https://www.quo.com/docs",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": integration, "python-modules": ["airflow_provider_quo.hooks.quo"]}],
        "operators": [
            {
                "integration-name": integration,
                "python-modules": [
                    "airflow_provider_quo.operators.mark_conversation_read",
                    "airflow_provider_quo.operators.mark_conversation_done",
                    "airflow_provider_quo.operators.mark_conversation_open",
                    "airflow_provider_quo.operators.list_stale_conversations",
                ],
            }
        ],
        "connection-types": [
            {
                "connection-type": "quo",
                "hook-class-name": HOOK_CLASS,
                "hook-name": "Quo",
                "ui-field-behaviour": {
                    "hidden-fields": ["login", "schema", "port"],
                    "relabeling": {"password": "API key", "host": "Base URL"},
                    "placeholders": {
                        "host": "https://api.quo.com",
                        "password": "Quo API key (Settings > API)",
                    },
                },
                "conn-fields": {
                    "timeout": {
                        "label": "Read timeout (seconds)",
                        "description": "Seconds to wait for a response before retrying (default 30).",
                        "schema": {"type": ["number", "null"], "minimum": 0.1},
                    },
                    "connect_timeout": {
                        "label": "Connect timeout (seconds)",
                        "description": "Seconds to wait for the TCP/TLS connection (default 10).",
                        "schema": {"type": ["number", "null"], "minimum": 0.1},
                    },
                    "retry_limit": {
                        "label": "Retry limit",
                        "description": "Attempts per request on 429, 5xx and network errors (default 6); "
                        "429s go on past it until a minute of waiting.",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                    },
                    "requests_per_second": {
                        "label": "Requests per second",
                        "description": "A ceiling on this API key's budget, shared by every task using the key "
                        "on this host, or on every host with a rate limit URL. Empty: the limit Quo states "
                        "(10 until it says).",
                        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
                    },
                    "rate_limit_url": {
                        "label": "Rate limit URL (Redis)",
                        "description": "redis://[:password@]host:6379/0 (or rediss://): share the key's budget "
                        "with every worker on every host through this Redis. Empty: shared on this host only.",
                        "schema": {"type": ["string", "null"], "pattern": "^rediss?://[^/?#]+(/[0-9]*)?$"},
                    },
                },
            }
        ],
    }
