"""One partition per project: every consolidation asset is partitioned by project id."""

import dagster as dg

PROJECTS_PARTITION = "projects"

projects = dg.DynamicPartitionsDefinition(name=PROJECTS_PARTITION)
