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
    from consolidation_assets.resources import MemoryStore

    return MemoryStore()


def register_projects(projects: Sequence[str]) -> None:
    """Add the projects as partitions of the Dagster instance, so the UI lists them at once."""
    if not projects:
        return

    from consolidation_assets import settings
    from consolidation_assets.partitions import PROJECTS_PARTITION

    with settings.dagster_instance() as instance:
        instance.add_dynamic_partitions(PROJECTS_PARTITION, sorted(projects))


def ingest_file(path: Path, project: str | None) -> int:
    from consolidation_assets.ingest import ingest_jsonl
    from consolidation_assets.memory_input import InvalidMemoriesError

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
    from consolidation_assets.export import export_project, playbook_markdown
    from consolidation_assets.memory_input import check_project_id

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
    from consolidation_assets.export import playbook_markdown

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
