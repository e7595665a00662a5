"""The Dagster instance of ``DAGSTER_HOME``, opened safely by several processes at once."""

from __future__ import annotations

import fcntl

import dagster as dg

from consolidation_assets.services.settings import dagster_home


def dagster_instance() -> dg.DagsterInstance:
    """The instance in ``DAGSTER_HOME``, its storage created under a lock on first use.

    Two processes opening a fresh SQLite instance at once (two ``consolidation run`` commands,
    say) would both create Dagster's tables, and one would fail with "table already exists".
    """
    home = dagster_home()
    with (home / ".instance.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            instance = dg.DagsterInstance.get()
            instance.get_runs(limit=1)
            instance.event_log_storage.get_dynamic_partitions("consolidation-warm-up")
            if instance.schedule_storage is not None:
                instance.schedule_storage.all_instigator_state()
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return instance
