"""UploadsFunction entry point: the routes and logic live in the shared layer package."""

from etl_artifacts import snapstart
from etl_artifacts.api.entry import lambda_entry
from etl_artifacts.api.uploads_routes import app

lambda_handler = lambda_entry(app, writes=True)
snapstart.enable(
    [
        snapstart.prime_database,
        snapstart.prime_s3,
        snapstart.prime_sts,
        snapstart.prime_events,
        snapstart.imports_primer(
            "etl_artifacts.uploads.service", "etl_artifacts.artifacts.presign_credentials"
        ),
        snapstart.prime_rate_limiter,
        snapstart.resolver_primer(app),
    ]
)
