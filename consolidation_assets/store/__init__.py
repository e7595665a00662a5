"""The memory store: schema, engine and every query. Knows nothing of Dagster."""
