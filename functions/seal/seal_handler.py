"""SealFunction entry point: the routes and logic live in the shared layer package."""

from etl_artifacts import snapstart
from etl_artifacts.api.entry import lambda_entry
from etl_artifacts.api.seal_routes import app

lambda_handler = lambda_entry(app, writes=True)
snapstart.enable(
    [
        snapstart.prime_database,
        snapstart.prime_s3,
        snapstart.prime_kms,
        snapstart.prime_events,
        snapstart.imports_primer("etl_artifacts.lifecycle.seal", "etl_artifacts.lifecycle.kms_signer"),
        snapstart.prime_rate_limiter,
        snapstart.resolver_primer(app),
    ]
)
