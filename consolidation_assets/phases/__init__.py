"""The four consolidation phases as plain functions over plain data.

Nothing in this package imports Dagster or SQL: each phase takes ids, texts, vectors, metadata,
the earlier phases' outputs and a settings dataclass, and returns a dataclass. That keeps the
algorithms testable on real data without a database and reusable outside the asset graph.
"""
