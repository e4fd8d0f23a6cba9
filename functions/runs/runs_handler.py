"""RunsFunction entry point: the routes and logic live in the shared layer package."""

from etl_artifacts import snapstart
from etl_artifacts.api.entry import lambda_entry
from etl_artifacts.api.runs_routes import app

lambda_handler = lambda_entry(app)
snapstart.enable(
    [
        snapstart.prime_database,
        snapstart.imports_primer("etl_artifacts.runs.dal"),
        snapstart.prime_rate_limiter,
        snapstart.resolver_primer(app),
    ]
)
