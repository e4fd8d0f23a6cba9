"""The demo ETL's own rows and schemas (seed): orders extracted, transformed and loaded, mixed
column types on purpose; everything drawn from a seeded ``random.Random``."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import math
import random
import uuid
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import pyarrow as pa
from etl_artifacts.s3.layout import RunRef

from etl_artifacts_local.etl_parquet import (
    UTC_TS,
    parquet_bytes,
)

EVENT_SCHEMA = pa.schema(
    [
        ("field_set", pa.string()),
        ("source_system", pa.string()),
        ("object_key", pa.string()),
        ("object_size", pa.int64()),
        ("triggered_by", pa.string()),
        ("logical_date", UTC_TS),
        ("params", pa.struct([("full_refresh", pa.bool_()), ("batch_size", pa.int32())])),
    ]
)

# --- the ETL's own output: one schema per phase, mixed types on purpose -----------------------
ADDRESS = pa.struct(
    [("street", pa.string()), ("city", pa.string()), ("zip", pa.string()), ("country", pa.string())]
)
LINE_ITEM = pa.struct([("sku", pa.string()), ("qty", pa.int32()), ("price", pa.float64())])
DATA_SCHEMAS: dict[str, pa.Schema] = {
    "extract": pa.schema(
        [
            ("order_id", pa.int64()),
            ("customer", pa.string()),
            ("amount", pa.float64()),
            ("currency", pa.string()),
            ("ordered_at", UTC_TS),
            ("ship_date", pa.date32()),
            ("unit_price", pa.decimal128(12, 2)),
            ("quantity", pa.int32()),
            ("is_priority", pa.bool_()),
            ("payload", pa.binary()),
            ("tags", pa.list_(pa.string())),
            ("address", ADDRESS),
        ]
    ),
    "transform": pa.schema(
        [
            ("order_id", pa.int64()),
            ("customer", pa.string()),
            ("segment", pa.string()),
            ("amount_usd", pa.decimal128(14, 2)),
            ("fx_rate", pa.float64()),
            ("ordered_at", UTC_TS),
            ("order_day", pa.date32()),
            ("delivery_window", pa.time64("us")),
            ("processing_time", pa.duration("ms")),
            ("is_priority", pa.bool_()),
            ("checksum", pa.binary()),
            ("tags", pa.list_(pa.string())),
            ("line_items", pa.list_(LINE_ITEM)),
        ]
    ),
    "load": pa.schema(
        [
            ("order_id", pa.int64()),
            ("target_table", pa.string()),
            ("action", pa.string()),
            ("loaded_at", UTC_TS),
            ("batch_id", pa.int32()),
            ("amount_usd", pa.decimal128(14, 2)),
            ("row_hash", pa.binary()),
            ("attributes", pa.map_(pa.string(), pa.string())),
            ("warnings", pa.list_(pa.string())),
        ]
    ),
}

CUSTOMERS = (
    "Ada Lovelace",
    "Grace Hopper",
    "Alan Turing",
    "Katherine Johnson",
    "Édouard Lucas",
    "Zoë Müller",
    "Søren Kierkegaard",
    "Łukasz Nowak",
    "Ngozi Okafor",
    "Mei Ling",
    "José Álvarez",
    "Émilie du Châtelet",
    "Hedy Lamarr",
    "Srinivasa Ramanujan",
    "Margaret Hamilton",
    "Björk Guðmundsdóttir",
    "Chidi Anagonye",
    "Anaïs Nin",
    "Dmitri Mendeleev",
    "Frida Kahlo",
    "100% Pure Ltd",
    "under_score Inc",
    "Back\\slash LLC",
)
CITIES = (
    ("Lisboa", "PT"),
    ("São Paulo", "BR"),
    ("Kraków", "PL"),
    ("München", "DE"),
    ("Zürich", "CH"),
    ("Lagos", "NG"),
    ("Osaka", "JP"),
    ("Montréal", "CA"),
    ("Austin", "US"),
    ("Reykjavík", "IS"),
)
STREETS = ("Rua Augusta", "Main Street", "Hauptstraße", "Rue de Rivoli", "Calle Mayor", "Ulica Długa")
CURRENCIES = {"EUR": 1.08, "USD": 1.0, "GBP": 1.27, "JPY": 0.0067, "BRL": 0.2, "CHF": 1.13}
TAGS = ("gift", "express", "b2b", "promo", "fragile", "returning", "vip", "backorder")
SEGMENTS = ("enterprise", "smb", "consumer", "public-sector")
SKUS = ("SKU-1001", "SKU-1002", "SKU-2040", "SKU-3300", "SKU-7777", "SKU-9001")
LOGGERS = {
    "extract": "etl.extract.orders_api",
    "transform": "etl.transform.orders",
    "load": "etl.load.warehouse",
}


def to_jsonable(value: Any) -> Any:
    """A Python value from a demo row as JSON for etl.logs (the renderings of docs/api.md Values)."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {key: to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        if value and all(isinstance(item, tuple) and len(item) == 2 for item in value):
            return {str(k): to_jsonable(v) for k, v in value}  # map entries
        return [to_jsonable(item) for item in value]
    return value


def rows_parquet(rows: Sequence[dict[str, Any]], schema: pa.Schema, row_group_rows: int) -> bytes:
    return parquet_bytes(pa.Table.from_pylist(list(rows), schema=schema), max(1, row_group_rows))


def chunks_of(rows: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


# --- the ETL's rows ---------------------------------------------------------------------------
def order_rows(rng: random.Random, count: int, first_id: int, day: dt.date) -> list[dict[str, Any]]:
    """Extract output: raw orders from a source system, with the gaps real sources have."""
    day_start = dt.datetime.combine(day, dt.time(), dt.UTC)
    rows = []
    for index in range(count):
        city, country = rng.choice(CITIES)
        ordered_at = day_start - dt.timedelta(
            seconds=rng.randrange(3 * 86400), microseconds=rng.randrange(10**6)
        )
        quantity = rng.randint(1, 12)
        unit_price = Decimal(rng.randrange(99, 99_999)).scaleb(-2)
        rows.append(
            {
                "order_id": first_id + index,
                "customer": rng.choice(CUSTOMERS) if rng.random() > 0.06 else None,
                "amount": float(unit_price * quantity) if rng.random() > 0.04 else math.nan,
                "currency": rng.choice(tuple(CURRENCIES)),
                "ordered_at": ordered_at,
                "ship_date": ordered_at.date() + dt.timedelta(days=rng.randint(1, 7))
                if rng.random() > 0.1
                else None,
                "unit_price": unit_price,
                "quantity": quantity,
                "is_priority": rng.random() < 0.2,
                "payload": rng.randbytes(rng.randint(4, 16)),
                "tags": rng.sample(TAGS, k=rng.randint(0, 3)) if rng.random() > 0.05 else None,
                "address": {
                    "street": f"{rng.randint(1, 300)} {rng.choice(STREETS)}",
                    "city": city,
                    "zip": f"{rng.randint(1000, 99999):05d}",
                    "country": country,
                }
                if rng.random() > 0.03
                else None,
            }
        )
    return rows


def transform_row(rng: random.Random, order: dict[str, Any]) -> dict[str, Any]:
    fx = CURRENCIES[order["currency"]]
    amount = order["amount"]
    amount_usd = None if math.isnan(amount) else Decimal(str(round(amount * fx, 2))).quantize(Decimal("0.01"))
    items = [
        {"sku": rng.choice(SKUS), "qty": rng.randint(1, 4), "price": round(rng.uniform(1, 500), 2)}
        for _ in range(rng.randint(1, 3))
    ]
    return {
        "order_id": order["order_id"],
        "customer": order["customer"].strip() if order["customer"] else None,
        "segment": rng.choice(SEGMENTS),
        "amount_usd": amount_usd,
        "fx_rate": math.nan if amount_usd is None else fx,
        "ordered_at": order["ordered_at"],
        "order_day": order["ordered_at"].date(),
        "delivery_window": dt.time(rng.randint(8, 19), rng.choice((0, 30)), 0, rng.randrange(10**6)),
        "processing_time": dt.timedelta(milliseconds=rng.randint(3, 5000)),
        "is_priority": order["is_priority"],
        "checksum": hashlib.blake2b(str(order["order_id"]).encode(), digest_size=8).digest(),
        "tags": order["tags"],
        "line_items": items,
    }


def load_row(rng: random.Random, row: dict[str, Any], loaded_at: dt.datetime, batch: int) -> dict[str, Any]:
    warnings = ["amount_usd is null"] if row["amount_usd"] is None else ([] if rng.random() > 0.1 else None)
    return {
        "order_id": row["order_id"],
        "target_table": "warehouse.fact_orders",
        "action": "update" if rng.random() < 0.25 else "insert",
        "loaded_at": loaded_at,
        "batch_id": batch,
        "amount_usd": row["amount_usd"],
        "row_hash": hashlib.blake2b(repr(sorted(row.items())).encode(), digest_size=12).digest(),
        "attributes": [("segment", row["segment"]), ("source", "orders_api")],
        "warnings": warnings,
    }


def random_uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def run_rng(seed: int, run: RunRef) -> random.Random:
    # String seeds hash with SHA-512: stable across processes and Python versions.
    return random.Random(f"{seed}|{run.id_company}|{run.dag_id}|{run.run_date}|{run.run_id}")
