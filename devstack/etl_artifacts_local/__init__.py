"""Local, Docker-free tooling: the gateway (serve), the dev stack, seeding and invoke.

Never shipped in the Lambda layer (the layer build excludes this package).
"""
