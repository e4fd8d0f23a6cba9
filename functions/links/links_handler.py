"""LinksFunction entry point (the public share link redirect): the route lives in the shared layer."""

from etl_artifacts.api.entry import lambda_entry
from etl_artifacts.api.share_routes import app

lambda_handler = lambda_entry(app)
