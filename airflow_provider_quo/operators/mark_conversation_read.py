"""MarkConversationReadOperator: ``POST /v1/conversations/{id}/mark-as-read`` for one id or thousands."""

from __future__ import annotations

from airflow_provider_quo.operators._mark_base import BaseMarkConversationsOperator

__all__ = ["MarkConversationReadOperator"]


class MarkConversationReadOperator(BaseMarkConversationsOperator):
    """Clear the unread indicator of one or many conversations, without sending a message.

    ``POST /v1/conversations/{id}/mark-as-read`` per id, concurrently at the connection's rate.
    Arguments and the returned summary are those of
    :class:`~airflow_provider_quo.operators._mark_base.BaseMarkConversationsOperator`.

    .. code-block:: python

        MarkConversationReadOperator(task_id="mark_read", conversation_ids=list_stale.output)
    """

    action = "read"
