"""The request's parameters shared by every route: strict input types, the run path and its checks
(docs/api.md), and the one way a check outside pydantic answers 422 in pydantic's shape."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import BeforeValidator, GetCoreSchemaHandler
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from etl_artifacts.config import get_settings
from etl_artifacts.s3.layout import RUN_ID_CHARS, RUN_ID_PATTERN, RUN_ID_RE

API_PREFIX = "/api/v1"
RUN_PATH = API_PREFIX + "/dags/<dag_id>/runs/<date>/<run_id>"

# Strict input types shared by every route (docs/api.md). Pydantic's lax parsing would read
# ``1_0`` as 10, ``+1``/`` 1``/``1.0`` as 1, a datetime or a unix time as a date, and
# ``urn:uuid:...``, braces or 32 bare hex digits as a UUID: each value must be written exactly
# in its one form first, then pydantic parses it, so the 422 shape and the OpenAPI schema
# (integer, date, uuid) stay pydantic's.
MAX_INT32 = 2_147_483_647
_DIGITS = re.compile(r"[0-9]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
UUID_PATTERN = f"^{_UUID.pattern}$"


def _written_as(pattern: re.Pattern[str], error_type: str, message: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if isinstance(value, str) and not pattern.fullmatch(value):
            raise PydanticCustomError(error_type, message)
        return value

    return check


_check_digits = _written_as(
    _DIGITS, "int_parsing", "Input should be a valid integer written as plain decimal digits"
)


@dataclass(frozen=True)
class DecimalInt:
    """Annotation marker of an integer parameter: plain decimal digits, within ``ge``..``le``.

    ``Annotated[int, DecimalInt(ge=1, le=MAX_INT32), Query(description=...)]``. The bounds live
    here rather than in ``Query(ge=...)``: pydantic can only put a bound on an int schema, and
    documents one set on the digit check around it as a non-standard ``ge`` in OpenAPI.
    """

    ge: int | None = None
    le: int | None = None

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_before_validator_function(
            _check_digits, core_schema.int_schema(ge=self.ge, le=self.le)
        )


PlainDate = Annotated[
    dt.date, BeforeValidator(_written_as(_DATE, "date_parsing", "Input should be a valid date, YYYY-MM-DD"))
]
HyphenatedUuid = Annotated[
    uuid.UUID,
    BeforeValidator(
        _written_as(_UUID, "uuid_parsing", "Input should be a UUID in its 36-character hyphenated form")
    ),
]

DagIdPath = Annotated[
    HyphenatedUuid,
    Path(
        description="DAG id: a UUID, 36-character hyphenated form.",
        json_schema_extra={"pattern": UUID_PATTERN},
    ),
]
RunDatePath = Annotated[PlainDate, Path(description="Run date, YYYY-MM-DD.")]
RunIdPath = Annotated[
    str,
    Path(
        description=(
            "Run id, percent-encoded once by the client (`+` as `%2B`, `:` as `%3A`) and decoded by API "
            f"Gateway; it must match `{RUN_ID_PATTERN}` (a `%` left after that decoding is refused)."
        ),
        min_length=1,
        max_length=750,
        # Documented, not enforced here: check_run_id checks it with the API's error shape;
        # '.' and '..' are dot segments, never a run.
        json_schema_extra={"pattern": rf"^(?!\.{{1,2}}$)[{RUN_ID_CHARS}]{{1,250}}$"},
    ),
]


def validation_error(loc: tuple[str | int, ...], msg: str, type_: str) -> RequestValidationError:
    """A 422 in the same shape as the ones parameter validation produces."""
    return RequestValidationError([{"loc": loc, "msg": msg, "type": type_}])


def presign_ttl(expires_in: int | None, default: int) -> int:
    """A presigned URL's lifetime: ``expires_in``, at most ``PRESIGN_MAX_TTL`` (configuration, so
    known only at request time), else ``default`` within that bound."""
    maximum = get_settings().presign_max_ttl
    if expires_in is not None and expires_in > maximum:
        raise validation_error(
            ("query", "expires_in"), f"Input should be less than or equal to {maximum}", "less_than_equal"
        )
    return expires_in or min(default, maximum)


def check_run_id(value: str) -> str:
    """The run id as API Gateway hands it over (decoded once, docs/limits.md), checked against the
    API's pattern. Never decoded again: a ``%`` still in it was encoded twice by the client."""
    # '.' and '..' match the pattern but are dot segments: as S3 keys they are rewritten by URL
    # normalisation (a presigned URL would name another key), so they are never a run.
    if not RUN_ID_RE.match(value) or value in (".", ".."):
        raise validation_error(
            ("path", "run_id"), f"String should match pattern '{RUN_ID_PATTERN}'", "string_pattern_mismatch"
        )
    return value
