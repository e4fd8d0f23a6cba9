"""HTTP routes, one module per function family (``*_routes.py``), all sharing ``common``."""
