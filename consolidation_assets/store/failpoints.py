"""Named points in a run where the crash tests stop the process, to kill it there.

A crash can come at any instruction; the tests cannot wait for a random one to land inside a
transaction. With ``CONSOLIDATION_FAILPOINT`` naming a point (for example
``patterns:writing``, inside the transaction that replaces a project's patterns), a process that
reaches it writes the name to ``CONSOLIDATION_FAILPOINT_FILE`` and waits there to be killed.
Unset, as in production, each point costs one environment lookup.

A marker file stops one process: the first to create it. Runs that share an environment (every
run container of a Docker deployment gets the same variables) then pass the point, so a test
can kill one of several concurrent runs, and the automatic re-run of the killed one completes.
A test that wants the point passed from the start creates the file first.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

FAILPOINT_ENV = "CONSOLIDATION_FAILPOINT"
FAILPOINT_FILE_ENV = "CONSOLIDATION_FAILPOINT_FILE"


def reached(name: str) -> None:
    """Stop here when the environment names this point and no process has stopped at it yet;
    return at once otherwise."""
    if os.environ.get(FAILPOINT_ENV) != name:
        return
    marker = Path(os.environ[FAILPOINT_FILE_ENV])
    # Written aside and linked into place: the link fails if the marker exists, so exactly one
    # process claims it, and a reader never sees it empty.
    handle, draft = tempfile.mkstemp(prefix=f".{marker.name}.", dir=marker.parent)
    with os.fdopen(handle, "w") as file:
        file.write(name)
    try:
        os.link(draft, marker)
    except FileExistsError:
        return
    finally:
        os.unlink(draft)
    while True:
        time.sleep(60)
