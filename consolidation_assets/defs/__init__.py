"""The Dagster layer, kept thin: the ``memories`` asset and one asset per registry phase,
checks, sensors, schedule, resources wrapping the plain services, and ``definitions.defs``."""
