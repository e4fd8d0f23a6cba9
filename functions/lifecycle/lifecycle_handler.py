"""LifecycleFunction entry point: the routes and logic live in the shared layer package."""

from etl_artifacts import snapstart
from etl_artifacts.api.entry import lambda_entry
from etl_artifacts.api.lifecycle_routes import app

lambda_handler = lambda_entry(app, writes=True)
snapstart.enable(
    [
        snapstart.prime_database,
        snapstart.prime_events,
        snapstart.imports_primer("etl_artifacts.lifecycle.artifact_states", "etl_artifacts.lifecycle.links"),
        snapstart.prime_rate_limiter,
        snapstart.resolver_primer(app),
    ]
)
