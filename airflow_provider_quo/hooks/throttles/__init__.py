"""The backends of the key's budget (see :mod:`airflow_provider_quo.hooks.throttle` for the interface):

- :mod:`.process`: one process (threads share it);
- :mod:`.host`: every process on this host, through a small state file under ``flock``;
- :mod:`.redis`: every worker on every host, through a Redis server (``rate_limit_url``).

:mod:`.pacing` holds what they share: the slot arithmetic, the 429 back-off and the interruptible wait.
"""
