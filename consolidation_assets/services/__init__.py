"""Plain services over the store and the phases: settings, ingest, embedders, the phase runner,
the agent tools, export and the trigger rules. No Dagster here."""
