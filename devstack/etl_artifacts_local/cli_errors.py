"""One-line refusals for the server commands: what is wrong and how to fix it, exit status 2,
never a traceback. A command function raises :class:`CommandError` (or lets the configuration's
``ConfigurationError``, or a database or storage ``ApiError``, through) and :func:`one_line_errors`
prints it."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

USAGE_EXIT = 2
# Where a fresh shell gets the local stack's variables from.
ENV_FILE = "source .local/dev/env"
ENV_HINT = f"run `{ENV_FILE}` (written by `make dev`) or export it"


class CommandError(Exception):
    """A refusal the user can fix: printed as one line, exit status 2."""


def require_environment(*groups: tuple[str, ...]) -> None:
    """Refuse unless each group has one of its variables set (checked before anything is touched)."""
    for group in groups:
        if not any(os.environ.get(name) for name in group):
            what = f"{group[0]} is not set" if len(group) == 1 else f"neither {' nor '.join(group)} is set"
            raise CommandError(f"{what}: {ENV_HINT}")


def require_s3_credentials() -> None:
    """Refuse before the first S3 call when boto3 would find no credentials (a fresh shell)."""
    if os.environ.get("AWS_ENDPOINT_URL_S3"):
        return  # a local S3 server: the env file sets its dummy credentials with it
    import boto3

    if boto3.Session().get_credentials() is None:
        raise CommandError(
            "no AWS credentials: for the local stack run `source .local/dev/env` (written by "
            "`make dev`); for AWS, configure credentials (AWS_PROFILE, ...)"
        )


def _configuration_message(text: str) -> str:
    # errors.ConfigurationError names the variables ("... is not set", "... must be set", "invalid
    # configuration: X"); a missing one gets the hint where the local stack's values are.
    return f"{text}: {ENV_HINT}" if text.endswith(("not set", "must be set")) else text


def one_line_errors(command: Callable[[Any], int]) -> Callable[[Any], int]:
    """Wrap a command function: a refusal or a configuration error becomes one line on stderr, exit 2."""

    @functools.wraps(command)
    def run(args: Any) -> int:
        # Imported here: the parser must stay cheap to import.
        from etl_artifacts.errors import ApiError, ConfigurationError

        try:
            return command(args)
        except CommandError as exc:
            message = str(exc)
        except ConfigurationError as exc:
            message = _configuration_message(str(exc))
        except ApiError as exc:  # the database or S3 did not answer (its detail names which, no secret)
            message = f"{exc.detail} Is the stack running (`make dev`)? After a restart, `{ENV_FILE}` again."
        print(f"etl-artifacts: error: {message}", file=sys.stderr)
        return USAGE_EXIT

    return run
