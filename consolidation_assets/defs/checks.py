"""Asset checks: the integrity of what each phase wrote, next to its asset in the UI.

The checks on patterns, merged memories and principles are blocking: when one fails, the
assets downstream of it do not run on bad input. Checks are not partitioned (partitioned checks
are a preview feature in Dagster 1.13); each runs inside its project's run and reads the run's
partition key, which it records in its metadata.
"""

import dagster as dg

from consolidation_assets.phases.registry import phase
from consolidation_assets.store import MemoryStore, integrity


def _key(name: str) -> dg.AssetKey:
    """The asset of a registry phase (KeyError when the registry has no such phase)."""
    return dg.AssetKey(phase(name).name)


patterns = _key("patterns")
merged_memories = _key("merged_memories")
principles = _key("principles")
playbook_entries = _key("playbook_entries")

MAX_LISTED = 20


def _verdict(context: dg.AssetCheckExecutionContext, problems: list[str]) -> dg.AssetCheckResult:
    listed = "\n".join(f"- {p}" for p in problems[:MAX_LISTED])
    if len(problems) > MAX_LISTED:
        listed += f"\n- … and {len(problems) - MAX_LISTED} more"
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description=problems[0] if problems else None,
        metadata={
            "project": context.partition_key,
            "problems": len(problems),
            "details": dg.MetadataValue.md(listed or "no problems"),
        },
    )


@dg.asset_check(asset=patterns, blocking=True)
def patterns_are_consistent(
    context: dg.AssetCheckExecutionContext, memory_store: dg.ResourceParam[MemoryStore]
) -> dg.AssetCheckResult:
    """Every member is a memory of the project, in one pattern only; supports add up."""
    return _verdict(context, integrity.pattern_problems(memory_store.engine, context.partition_key))


@dg.asset_check(asset=merged_memories, blocking=True)
def merge_groups_are_sound(
    context: dg.AssetCheckExecutionContext, memory_store: dg.ResourceParam[MemoryStore]
) -> dg.AssetCheckResult:
    """Every source exists and belongs to the project; each memory is in at most one group;
    every group has two or more sources, its canonical among them."""
    return _verdict(context, integrity.merge_problems(memory_store.engine, context.partition_key))


@dg.asset_check(asset=principles, blocking=True)
def principles_cite_patterns(
    context: dg.AssetCheckExecutionContext, memory_store: dg.ResourceParam[MemoryStore]
) -> dg.AssetCheckResult:
    """Every principle cites at least two existing patterns; parents are one level up."""
    return _verdict(
        context, integrity.principle_problems(memory_store.engine, context.partition_key)
    )


@dg.asset_check(asset=playbook_entries, blocking=True)
def active_entries_are_distinct(
    context: dg.AssetCheckExecutionContext, memory_store: dg.ResourceParam[MemoryStore]
) -> dg.AssetCheckResult:
    """No two active playbook entries say the same thing."""
    threshold = phase("playbook_entries").settings().duplicate_threshold
    return _verdict(
        context,
        integrity.duplicate_entry_problems(memory_store.engine, context.partition_key, threshold),
    )


@dg.asset_check(asset=playbook_entries, blocking=True)
def active_entries_have_sources(
    context: dg.AssetCheckExecutionContext, memory_store: dg.ResourceParam[MemoryStore]
) -> dg.AssetCheckResult:
    """Every active playbook entry rests on at least one memory of the project."""
    return _verdict(
        context, integrity.unsourced_entry_problems(memory_store.engine, context.partition_key)
    )


@dg.asset_check(asset=playbook_entries, blocking=True)
def outputs_stay_in_project(
    context: dg.AssetCheckExecutionContext, memory_store: dg.ResourceParam[MemoryStore]
) -> dg.AssetCheckResult:
    """No pattern, merged memory, principle or active entry of the project refers to a memory,
    pattern or principle of another project."""
    return _verdict(
        context, integrity.isolation_problems(memory_store.engine, context.partition_key)
    )


def _raw_snapshot(context: dg.AssetCheckExecutionContext) -> dict | None:
    """The raw-memory fingerprint the patterns phase took: in this run, else its latest one."""
    records = context.instance.get_records_for_run(
        context.run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    candidates = [
        r.event_log_entry.asset_materialization
        for r in records
        if r.event_log_entry.asset_materialization is not None
    ]
    if not any(m.asset_key == patterns for m in candidates):
        latest = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=patterns, asset_partitions=[context.partition_key]),
            limit=1,
        ).records
        candidates = [r.asset_materialization for r in latest if r.asset_materialization]
    for materialization in candidates:
        if materialization.asset_key == patterns and materialization.partition == (
            context.partition_key
        ):
            metadata = materialization.metadata
            if {"raw_memories", "raw_max_seq", "raw_digest"} <= set(metadata):
                return {
                    key: metadata[key].value
                    for key in ("raw_memories", "raw_max_seq", "raw_digest")
                }
    return None


@dg.asset_check(asset=playbook_entries, blocking=True)
def raw_memories_intact(
    context: dg.AssetCheckExecutionContext, memory_store: dg.ResourceParam[MemoryStore]
) -> dg.AssetCheckResult:
    """Every raw memory the run started from is still present and unchanged.

    The patterns phase fingerprints the raw memories as it starts (count, highest seq, digest of
    ids and content hashes); this check, last in the run, fingerprints them again.
    """
    snapshot = _raw_snapshot(context)
    if snapshot is None:
        return _verdict(context, ["no raw-memory fingerprint from the patterns phase to compare"])
    now = integrity.raw_fingerprint(
        memory_store.engine, context.partition_key, int(snapshot["raw_max_seq"])
    )
    problems = [f"memory {m}: content no longer matches its content hash" for m in now.rewritten]
    if now.count != snapshot["raw_memories"]:
        problems.append(f"{snapshot['raw_memories']} raw memories at the start, {now.count} now")
    elif now.digest != snapshot["raw_digest"]:
        problems.append("raw memory ids or content hashes changed during the run")
    return _verdict(context, problems)


consolidation_checks = [
    patterns_are_consistent,
    merge_groups_are_sound,
    principles_cite_patterns,
    active_entries_are_distinct,
    active_entries_have_sources,
    outputs_stay_in_project,
    raw_memories_intact,
]
