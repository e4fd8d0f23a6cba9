"""PhasesFunction entry point: the routes and logic live in the shared layer package."""

from etl_artifacts import snapstart
from etl_artifacts.api.entry import lambda_entry
from etl_artifacts.api.phases_routes import app

lambda_handler = lambda_entry(app)
snapstart.enable(
    [
        snapstart.prime_arrow,
        snapstart.prime_s3,
        snapstart.prime_arrow_s3,
        snapstart.prime_sqs,
        snapstart.imports_primer("etl_artifacts.phases.service", "etl_artifacts.parquet.page_formats"),
        snapstart.prime_rate_limiter,
        snapstart.resolver_primer(app),
    ]
)
