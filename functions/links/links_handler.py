"""LinksFunction entry point (the public share link redirect): the route lives in the shared layer."""

from etl_artifacts import snapstart
from etl_artifacts.api.entry import lambda_entry
from etl_artifacts.api.share_routes import app

lambda_handler = lambda_entry(app)
snapstart.enable(
    [
        snapstart.prime_database,
        snapstart.prime_s3,
        snapstart.prime_sts,
        snapstart.prime_events,
        snapstart.imports_primer("etl_artifacts.lifecycle.links", "etl_artifacts.artifacts.presign"),
        snapstart.prime_rate_limiter,
        snapstart.resolver_primer(app),
    ]
)
