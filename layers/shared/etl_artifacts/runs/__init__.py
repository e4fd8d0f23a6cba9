"""Runs family: search and summary of ETL runs stored in ``etl.logs`` (docs/architecture.md, docs/api.md).

``models`` holds the request/response models, ``service`` one logic function per route, ``query``
builds the parameterised SQL (pure, no I/O) and ``dal`` runs it through ``etl_artifacts.postgres.db``: route
-> service -> dal, nothing climbing back.
"""
