"""The ``consolidation`` command: ingest, run, export and demo (the CLI contract)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

SUMMARY_METRICS = (
    ("memories_processed", "memories"),
    ("patterns_extracted", "patterns"),
    ("memories_merged", "memories merged"),
    ("merge_groups", "merged memories"),
    ("principles_created", "principles"),
    ("playbook_entries_created", "entries created"),
    ("playbook_entries_updated", "entries updated"),
    ("playbook_entries_stale", "entries marked stale"),
    ("playbook_entries_active", "active entries"),
)


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _store():
    from consolidation_assets.services import settings

    return settings.memory_store()


def register_projects(projects: Sequence[str]) -> None:
    """Tell the Dagster instance about the projects: each becomes a partition (so the UI lists
    it at once) and its memories' new data version is recorded (so its outputs show stale)."""
    if not projects:
        return
    from consolidation_assets.defs.observations import announce_projects

    announce_projects(_store(), projects)


def ingest_file(path: Path, project: str | None) -> int:
    from consolidation_assets.services.ingest import ingest_jsonl
    from consolidation_assets.services.memory_input import InvalidMemoriesError

    try:
        data = path.read_bytes()
    except OSError as exc:
        _err(f"{path}: cannot read: {exc.strerror or exc}")
        return EXIT_BAD_INPUT
    try:
        report = ingest_jsonl(data, project=project, database_url=_store().url, source=str(path))
    except InvalidMemoriesError as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    register_projects(set(report.seen_projects))
    per_project = ", ".join(f"{p}: {n}" for p, n in sorted(report.projects.items())) or "none"
    print(
        f"{path}: {report.received} memories read, {report.inserted} stored, "
        f"{report.already_present} already present (new per project: {per_project})"
    )
    return EXIT_OK


def run_project(project: str, scope: dict, job_id: str | None, log_level: str = "INFO"):
    from consolidation_assets.engine import ConsolidationEngine

    engine = ConsolidationEngine(_store(), None, project, scope, log_level=log_level)
    return engine.execute(job_id)


def _summary(result) -> str:
    metrics = result.metrics
    parts = [f"{metrics[key]} {label}" for key, label in SUMMARY_METRICS if key in metrics]
    return ", ".join(parts)


def cmd_ingest(args: argparse.Namespace) -> int:
    return ingest_file(Path(args.file), args.project)


def cmd_run(args: argparse.Namespace) -> int:
    scope = {"memory_types": args.memory_type or [], "since": args.since, "until": args.until}
    try:
        result = run_project(args.project, scope, args.job_id, "DEBUG" if args.verbose else "INFO")
    except ValueError as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    took = f"{result.duration_seconds:.1f} s"
    _err(f"{args.project}: {result.status.value} in {took}: {_summary(result)}")
    if result.error_message:
        _err(f"error: {result.error_message}")
    print(json.dumps(result.to_dict(), sort_keys=True))
    return EXIT_OK if result.status.value == "completed" else EXIT_FAILED


def cmd_export(args: argparse.Namespace) -> int:
    from consolidation_assets.services.export import export_project, playbook_markdown
    from consolidation_assets.services.memory_input import check_project_id

    if reason := check_project_id(args.project):
        _err(f"--project: {reason}")
        return EXIT_BAD_INPUT
    engine = _store().engine
    if args.format == "json":
        print(json.dumps(export_project(engine, args.project), indent=2, ensure_ascii=False))
    else:
        print(playbook_markdown(engine, args.project), end="")
    return EXIT_OK


def cmd_db(args: argparse.Namespace) -> int:
    from consolidation_assets.store.engine import create_bare_engine, safe_url
    from consolidation_assets.store.schema import current_revision, head_revision, upgrade

    url = _store().url
    engine = create_bare_engine(url)
    try:
        if args.action == "upgrade":
            before = current_revision(engine)
            after = upgrade(engine)
            change = (
                "already at" if before == after else f"upgraded from {before or 'no revision'} to"
            )
            print(f"{safe_url(url)}: {change} revision {after}")
        else:
            print(
                f"{safe_url(url)}: revision {current_revision(engine) or 'none'} "
                f"(head {head_revision()})"
            )
    finally:
        engine.dispose()
    return EXIT_OK


def _knowledge():
    from consolidation_assets.services.agent_tools import KnowledgeBase

    return KnowledgeBase(_store())


def _project_problem(project: str) -> str | None:
    from consolidation_assets.services.memory_input import check_project_id
    from consolidation_assets.store.memories import count_memories

    if reason := check_project_id(project):
        return f"--project: {reason}"
    if count_memories(_store().engine, project) == 0:
        return f"project {project!r} has no memories in {_store().display_url}"
    return None


def cmd_search(args: argparse.Namespace) -> int:
    if problem := _project_problem(args.project):
        _err(problem)
        return EXIT_BAD_INPUT
    try:
        results = _knowledge().search(
            args.query,
            args.project,
            level=args.level,
            memory_type=args.memory_type,
            pattern_type=args.pattern_type,
            since=args.since,
            limit=args.limit,
            with_sources=args.with_sources,
        )
    except ValueError as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    if args.format == "json":
        print(json.dumps([r.to_dict() for r in results], indent=2, ensure_ascii=False))
        return EXIT_OK
    from consolidation_assets.phases.text import shorten
    from consolidation_assets.store.knowledge import LEVEL_NAMES

    for rank, r in enumerate(results, start=1):
        print(
            f"{rank:2d}. [{LEVEL_NAMES[r.level]}] {r.score:.3f}  {shorten(r.text, 100)}\n"
            f"    {r.kind} {r.id}, confidence {r.confidence:.2f}, "
            f"{len(r.source_memory_ids)} source memories"
        )
        for source in r.sources or []:
            print(f"      - {source['id']}: {shorten(source['content'], 90)}")
    if not results:
        print("no results")
    return EXIT_OK


def cmd_context(args: argparse.Namespace) -> int:
    if problem := _project_problem(args.project):
        _err(problem)
        return EXIT_BAD_INPUT
    try:
        context = _knowledge().context(args.task, args.project, budget_chars=args.budget)
    except ValueError as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    if args.format == "json":
        print(json.dumps(context.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(context.markdown, end="")
        counts = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in context.counts.items())
        _err(f"{len(context.markdown)} of {context.budget_chars} characters: {counts}")
    return EXIT_OK


def cmd_lineage(args: argparse.Namespace) -> int:
    from consolidation_assets.services.agent_tools import render_lineage

    try:
        tree = _knowledge().lineage(args.id, depth=args.depth, max_children=args.max_children)
    except (LookupError, ValueError) as exc:
        _err(str(exc).strip("'\""))
        return EXIT_BAD_INPUT
    if args.format == "json":
        print(json.dumps(tree, indent=2, ensure_ascii=False))
    else:
        print(render_lineage(tree))
    return EXIT_OK


def cmd_feedback(args: argparse.Namespace) -> int:
    from consolidation_assets.services.agent_tools import UnknownEntryError

    try:
        result = _knowledge().feedback(args.entry_id, helpful=args.helpful, note=args.note)
    except UnknownEntryError as exc:
        _err(str(exc).strip("'\""))
        return EXIT_BAD_INPUT
    print(
        json.dumps(
            {
                "entry_id": result.entry_id,
                "project_id": result.project_id,
                "helpful_count": result.helpful_count,
                "harmful_count": result.harmful_count,
            }
        )
    )
    return EXIT_OK


def cmd_stats(args: argparse.Namespace) -> int:
    if problem := _project_problem(args.project):
        _err(problem)
        return EXIT_BAD_INPUT
    figures = _knowledge().stats(args.project)
    if args.format == "json":
        print(json.dumps(figures, indent=2))
        return EXIT_OK
    print(f"project {figures['project_id']}")
    for key in (
        "total_memories",
        "consolidated_memories",
        "raw_memories",
        "merged_memories",
        "reduction_percent",
    ):
        print(f"  {key.replace('_', ' ')}: {figures[key]}")
    for key in ("memory_types", "abstraction_levels", "playbook", "last_run"):
        value = figures[key]
        shown = ", ".join(f"{k} {v}" for k, v in value.items()) if value else "none"
        print(f"  {key.replace('_', ' ')}: {shown}")
    return EXIT_OK


def sample_files() -> list[Path]:
    """The bundled sample memory files, one per project."""
    folder = resources.files("consolidation_assets") / "sample_data"
    return sorted(Path(str(f)) for f in folder.iterdir() if f.name.endswith(".jsonl"))


def load_samples() -> int:
    files = sample_files()
    if not files:
        _err("no bundled sample data found in the package")
        return EXIT_FAILED
    for path in files:
        code = ingest_file(path, None)
        if code != EXIT_OK:
            return code
    return EXIT_OK


def cmd_load_samples(args: argparse.Namespace) -> int:
    return load_samples()


def cmd_demo(args: argparse.Namespace) -> int:
    from consolidation_assets.services.export import playbook_markdown

    status = load_samples()
    if status != EXIT_OK:
        return status
    files = sample_files()
    for path in files:
        project = path.stem
        _err(f"Consolidating {project} ...")
        result = run_project(project, {}, None, "WARNING")
        print(f"\n=== {project}: {result.status.value} in {result.duration_seconds:.1f} s ===")
        print(_summary(result))
        if result.error_message:
            print(f"error: {result.error_message}")
            status = EXIT_FAILED
            continue
        print()
        print(playbook_markdown(_store().engine, project, limit=args.top), end="")
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="consolidation",
        description="Consolidate AI-agent memories per project into patterns, merged memories, "
        "principles and a playbook, as Dagster assets.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="store memories from a JSONL file")
    ingest.add_argument("file", help="one JSON object per line")
    ingest.add_argument("--project", help="project id for lines that do not give one")
    ingest.set_defaults(func=cmd_ingest)

    run = commands.add_parser("run", help="consolidate one project through Dagster")
    run.add_argument("--project", required=True)
    run.add_argument("--memory-type", action="append", help="only this memory type (repeatable)")
    run.add_argument("--since", help="only memories created at or after this ISO 8601 time")
    run.add_argument("--until", help="only memories created before this ISO 8601 time")
    run.add_argument("--job-id", help="a UUID to use as the job and run id")
    run.add_argument("--verbose", action="store_true", help="show every Dagster event")
    run.set_defaults(func=cmd_run)

    export = commands.add_parser("export", help="print a project's consolidated knowledge")
    export.add_argument("--project", required=True)
    export.add_argument("--format", choices=("json", "markdown"), default="json")
    export.set_defaults(func=cmd_export)

    search = commands.add_parser(
        "search", help="rank merged memories, patterns and principles for a query"
    )
    search.add_argument("query")
    search.add_argument("--project", required=True)
    search.add_argument(
        "--level",
        type=int,
        choices=(1, 2, 3),
        help="1: merged and raw memories, 2: patterns, 3: principles",
    )
    search.add_argument("--memory-type", help="only items resting on memories of this type")
    search.add_argument("--pattern-type", help="only patterns of this type")
    search.add_argument("--since", help="only items seen at or after this ISO 8601 date")
    search.add_argument("--limit", type=int, default=10)
    search.add_argument("--with-sources", action="store_true", help="include the source memories")
    search.add_argument("--format", choices=("text", "json"), default="text")
    search.set_defaults(func=cmd_search)

    context = commands.add_parser(
        "context", help="what an agent should read before a task, within a size budget"
    )
    context.add_argument("task", help="the task description")
    context.add_argument("--project", required=True)
    context.add_argument(
        "--budget", type=int, default=4000, help="most characters of Markdown (default 4000)"
    )
    context.add_argument("--format", choices=("markdown", "json"), default="markdown")
    context.set_defaults(func=cmd_context)

    lineage = commands.add_parser(
        "lineage", help="what an item fed and what it rests on, as a tree"
    )
    lineage.add_argument("id", help="a memory, merged memory, pattern, principle or entry id")
    lineage.add_argument("--depth", type=int, default=3, help="levels each way (default 3)")
    lineage.add_argument("--max-children", type=int, default=20, help="children shown per node")
    lineage.add_argument("--format", choices=("text", "json"), default="text")
    lineage.set_defaults(func=cmd_lineage)

    feedback = commands.add_parser("feedback", help="report whether a playbook entry helped")
    feedback.add_argument("entry_id")
    verdict = feedback.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--helpful", dest="helpful", action="store_true")
    verdict.add_argument("--harmful", dest="helpful", action="store_false")
    feedback.add_argument("--note", help="why, kept in the playbook's audit trail")
    feedback.set_defaults(func=cmd_feedback)

    stats = commands.add_parser("stats", help="a project's memories, consolidation and last run")
    stats.add_argument("--project", required=True)
    stats.add_argument("--format", choices=("text", "json"), default="text")
    stats.set_defaults(func=cmd_stats)

    db = commands.add_parser("db", help="the memory store's schema")
    db.add_argument(
        "action",
        choices=("upgrade", "current"),
        help="upgrade: migrate an empty or older database to the current schema; "
        "current: show its revision",
    )
    db.set_defaults(func=cmd_db)

    samples = commands.add_parser(
        "load-samples", help="ingest the bundled sample projects (what `make ui` shows)"
    )
    samples.set_defaults(func=cmd_load_samples)

    demo = commands.add_parser("demo", help="load the bundled sample projects and consolidate them")
    demo.add_argument("--top", type=int, default=6, help="playbook entries shown per project")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from sqlalchemy.exc import DBAPIError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DBAPIError as exc:
        reason = str(exc.orig).strip() if exc.orig is not None else str(exc)
        _err(f"memory store {_store().display_url}: {type(exc.orig).__name__}: {reason}")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
