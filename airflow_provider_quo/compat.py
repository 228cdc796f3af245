"""Every difference between the Airflow versions the provider supports (3.1 to 3.3), in one place.

- :func:`mask_secret` moved in the task SDK after 3.1;
- retry policies (``RetryPolicy``, ``RetryDecision``) exist from 3.3 (:data:`RETRY_POLICY_SUPPORTED`);
- the task state store (``context["task_state_store"]``) exists from 3.3: a context key, no import, so the
  marking operators read it where they need it;
- 3.1 reads the connection form from the hook (:func:`connection_form_behaviour`,
  :func:`connection_form_widgets`); 3.2 and later read the provider info.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_quo.get_provider_info import get_provider_info

try:
    from airflow.sdk.log import mask_secret
except ImportError:  # pragma: no cover - Airflow 3.1's task SDK
    from airflow.sdk.execution_time.secrets_masker import mask_secret  # type: ignore[no-redef]

try:
    from airflow.sdk import RetryDecision, RetryPolicy
except ImportError:  # Airflow 3.1 and 3.2: no ``retry_policy=`` on operators
    RETRY_POLICY_SUPPORTED = False
    RetryPolicy = object  # type: ignore[misc,assignment]
    RetryDecision = None  # type: ignore[misc,assignment]
else:
    RETRY_POLICY_SUPPORTED = True

__all__ = [
    "RETRY_POLICY_SUPPORTED",
    "RetryDecision",
    "RetryPolicy",
    "connection_form_behaviour",
    "connection_form_widgets",
    "mask_secret",
]


def _connection_type_info() -> dict[str, Any]:
    info: dict[str, Any] = get_provider_info()["connection-types"][0]
    return info


def connection_form_behaviour() -> dict[str, Any]:
    """``QuoHook.get_ui_field_behaviour`` for Airflow 3.1, from the provider info's ``ui-field-behaviour``."""
    behaviour = _connection_type_info()["ui-field-behaviour"]
    return {key.replace("-", "_"): value for key, value in behaviour.items()}


def connection_form_widgets() -> dict[str, Any]:
    """``QuoHook.get_connection_form_widgets`` for Airflow 3.1, from the provider info's ``conn-fields``."""
    from wtforms import StringField  # only where the UI (FAB) is installed

    fields = _connection_type_info()["conn-fields"]
    return {name: StringField(field["label"], description=field["description"]) for name, field in fields.items()}
