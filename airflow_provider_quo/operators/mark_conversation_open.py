"""MarkConversationOpenOperator: ``POST /v1/conversations/{id}/mark-as-open`` for one id or thousands."""

from __future__ import annotations

from airflow_provider_quo.operators._mark_base import BaseMarkConversationsOperator

__all__ = ["MarkConversationOpenOperator"]


class MarkConversationOpenOperator(BaseMarkConversationsOperator):
    """Move one or many conversations back to the inbox.

    ``POST /v1/conversations/{id}/mark-as-open`` per id (API endpoint added June 2026). Arguments and
    the returned summary are those of
    :class:`~airflow_provider_quo.operators._mark_base.BaseMarkConversationsOperator`.
    """

    action = "open"
