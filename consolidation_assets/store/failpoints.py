"""Named points in a run where the crash tests stop the process, to kill it there.

A crash can come at any instruction; the tests cannot wait for a random one to land inside a
transaction. With ``CONSOLIDATION_FAILPOINT`` naming a point (for example
``patterns:writing``, inside the transaction that replaces a project's patterns), a process that
reaches it writes the name to ``CONSOLIDATION_FAILPOINT_FILE`` and waits there to be killed.
Unset, as in production, each point costs one environment lookup.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

FAILPOINT_ENV = "CONSOLIDATION_FAILPOINT"
FAILPOINT_FILE_ENV = "CONSOLIDATION_FAILPOINT_FILE"


def reached(name: str) -> None:
    """Stop here when the environment names this point; return at once otherwise."""
    if os.environ.get(FAILPOINT_ENV) != name:
        return
    Path(os.environ[FAILPOINT_FILE_ENV]).write_text(name)
    while True:
        time.sleep(60)
