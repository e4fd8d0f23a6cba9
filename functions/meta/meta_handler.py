"""MetaFunction entry point: the routes and logic live in the shared layer package."""

from etl_artifacts import snapstart
from etl_artifacts.api.entry import lambda_entry
from etl_artifacts.api.meta_routes import app

lambda_handler = lambda_entry(app)
snapstart.enable(
    [
        snapstart.imports_primer("etl_artifacts.api.openapi_doc"),
        snapstart.prime_rate_limiter,
        snapstart.resolver_primer(app),
    ]
)
