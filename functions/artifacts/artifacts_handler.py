"""ArtifactsFunction entry point: the routes and logic live in the shared layer package."""

from etl_artifacts import snapstart
from etl_artifacts.api.artifacts_routes import app
from etl_artifacts.api.entry import lambda_entry

lambda_handler = lambda_entry(app)
snapstart.enable(
    [
        snapstart.prime_s3,
        snapstart.prime_sts,
        snapstart.imports_primer("etl_artifacts.artifacts.service"),
        snapstart.prime_rate_limiter,
        snapstart.resolver_primer(app),
    ]
)
