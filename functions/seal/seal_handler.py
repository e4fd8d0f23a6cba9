"""SealFunction entry point: the routes and logic live in the shared layer package."""

from etl_artifacts.api.entry import lambda_entry
from etl_artifacts.api.seal_routes import app

lambda_handler = lambda_entry(app, writes=True)
