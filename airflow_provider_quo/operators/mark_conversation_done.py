"""MarkConversationDoneOperator: ``POST /v1/conversations/{id}/mark-as-done`` for one id or thousands."""

from __future__ import annotations

from airflow_provider_quo.operators._mark_base import BaseMarkConversationsOperator

__all__ = ["MarkConversationDoneOperator"]


class MarkConversationDoneOperator(BaseMarkConversationsOperator):
    """Remove one or many conversations from the inbox without sending a message.

    ``POST /v1/conversations/{id}/mark-as-done`` per id (API endpoint added June 2026). Arguments and
    the returned summary are those of
    :class:`~airflow_provider_quo.operators._mark_base.BaseMarkConversationsOperator`.
    """

    action = "done"
