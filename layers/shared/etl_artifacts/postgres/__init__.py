"""Postgres: the one connection door (``db``) and the schema's migrations."""
