"""What a usage report and an invoice cost over a large ledger (``python bench/usage_report.py``).

A SQLite database gets a month of usage records for one organisation (``--rows``, 700,000 by
default: about 970 an hour, over four models, five keys and two or three units each) written
straight into the table at the schema before the rollups, then migration 0006 fills the
rollups from them (timed: what an upgrade costs). Another organisation has a single record.
The server's app then answers, in process, with the operator's key:

- ``GET /v1/usage`` for the month, by day, by model and by key (whole hours: rollups alone);
- ``GET /v1/usage`` cut inside the first and last hours (rollups plus those hours' records);
- ``GET /v1/orgs/{slug}/invoices/{month}``;

each the median of ``--repeat`` calls, for the large organisation and for the single-record
one: the ratio between the two is what the ledger's size still costs. ``--raw`` also times
adding the month up from the records themselves (what every report did before the rollups).
Results go to ``bench/USAGE_REPORT.md``.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine

from modelmart.accounts.service import AccountService
from modelmart.billing.invoices import Period
from modelmart.billing.ledger import Ledger
from modelmart.billing.ledger_audit import usage_from_records
from modelmart.config import Settings
from modelmart.gateway.app import create_app
from modelmart.gateway.bootstrap import bootstrap_operator
from modelmart.schemas.accounts import OrganizationCreate
from modelmart.store.db import alembic_config, create_engine_for, migrate, session_factory
from modelmart.store.tables import UsageRow

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "USAGE_REPORT.md"
OPERATOR_KEY = "mm_0123456789ab_benchmark-operator-key"
MONTH = Period(2026, 11)
MAX_ROWS = 2_000_000
MODELS = {
    "chat": ("requests", "tokens"),
    "whisper": ("requests", "items", "audio_seconds"),
    "iris": ("requests", "items"),
    "langid": ("requests", "items"),
}
KEYS = 5
INSERTED_AT_ONCE = 10_000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=700_000, help=f"at most {MAX_ROWS:,}")
    parser.add_argument("--repeat", type=int, default=5, help="calls per figure (median)")
    parser.add_argument("--raw", action="store_true", help="also time the records-only sum")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not 1 <= args.rows <= MAX_ROWS:
        parser.error(f"--rows must be between 1 and {MAX_ROWS:,}")
    return args


def _units(rng: random.Random, model: str) -> str:
    units: dict[str, float] = {}
    for unit in MODELS[model]:
        if unit == "requests":
            units[unit] = 1.0
        elif unit == "tokens":
            units[unit] = float(rng.randrange(20, 4000))
        elif unit == "audio_seconds":
            units[unit] = round(rng.uniform(1, 60), 3)
        else:
            units[unit] = float(rng.randrange(1, 16))
    return json.dumps(units)


def _records(
    org_id: int, count: int, stamp: Callable[[datetime], Any]
) -> Iterator[tuple[Any, ...]]:
    """``count`` records spread evenly over the month, in time order."""
    rng = random.Random(11)
    step = (MONTH.end - MONTH.start) / count
    for index in range(count):
        model = rng.choice(list(MODELS))
        at = MONTH.start + step * index
        yield (f"bench-{index}", org_id, rng.randrange(1, KEYS + 1), model, 1,
               _units(rng, model), 1.0, stamp(at))  # fmt: skip


def write_ledger(engine: Engine, database: Path, rows: int) -> dict[str, int]:
    """The operator, a large and a single-record organisation, and their records (at the
    schema before the rollups); the organisations' ids by slug."""
    command.upgrade(alembic_config(engine), "0005")
    accounts = AccountService(session_factory(engine))
    settings = Settings(bootstrap_api_key=SecretStr(OPERATOR_KEY), auth_enabled=True)
    bootstrap_operator(accounts, settings)
    ids = {
        slug: accounts.create_organisation(
            OrganizationCreate(slug=slug, name=slug.title(), plan="pay-as-you-go")
        ).id
        for slug in ("large", "single")
    }
    column = UsageRow.__table__.c.created_at
    stamp = column.type.dialect_impl(engine.dialect).bind_processor(engine.dialect)
    assert stamp is not None
    insert = (
        "INSERT INTO usage_records (request_id, org_id, key_id, model, version, units, "
        "latency_ms, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    )
    with sqlite3.connect(database) as connection:
        batch: list[tuple[Any, ...]] = []
        for record in _records(ids["large"], rows, stamp):
            batch.append(record)
            if len(batch) == INSERTED_AT_ONCE:
                connection.executemany(insert, batch)
                batch.clear()
        connection.executemany(insert, batch)
        single = next(_records(ids["single"], 1, stamp))
        connection.execute(insert, ("single-0", *single[1:]))
    return ids


def _median_ms(call: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _requests(slug: str) -> dict[str, tuple[str, dict[str, str]]]:
    whole = {"organisation": slug, "start": MONTH.start.isoformat(), "end": MONTH.end.isoformat()}
    cut = {
        "organisation": slug,
        "start": (MONTH.start + timedelta(minutes=17, seconds=33)).isoformat(),
        "end": (MONTH.end - timedelta(minutes=31)).isoformat(),
        "group_by": "model",
    }
    return {
        "usage by day": ("/v1/usage", {**whole, "group_by": "day"}),
        "usage by model": ("/v1/usage", {**whole, "group_by": "model"}),
        "usage by key": ("/v1/usage", {**whole, "group_by": "key"}),
        "usage by model, cut mid-hour": ("/v1/usage", cut),
        "invoice": (f"/v1/orgs/{slug}/invoices/{MONTH}", {}),
    }


def measure(client: TestClient, repeat: int) -> list[tuple[str, float, float]]:
    """(what, large ms, single-record ms) per request."""
    figures = []
    large, single = _requests("large"), _requests("single")
    for name, (path, params) in large.items():

        def call(path: str = path, params: dict[str, str] = params) -> None:
            client.get(path, params=params).raise_for_status()

        one_path, one_params = single[name]

        def call_one(path: str = one_path, params: dict[str, str] = one_params) -> None:
            client.get(path, params=params).raise_for_status()

        call()  # warm-up (and a check that it answers)
        call_one()
        figures.append((name, _median_ms(call, repeat), _median_ms(call_one, repeat)))
    return figures


def render(rows: int, backfill_s: float, figures: list[tuple[str, float, float]],
           raw_s: float | None, rollups: int) -> str:  # fmt: skip
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    lines = [
        "# Usage reports and invoices",
        "",
        f"Generated by `bench/usage_report.py` on {stamp} UTC: SQLite, {rows:,} usage records "
        f"of one organisation over {MONTH} ({rollups:,} rollup rows), the app in process, "
        "median of the calls. The single-record organisation answers the same requests over "
        "one record.",
        "",
        f"Migration 0006 (rollups filled from the {rows:,} records): {backfill_s:.1f} s.",
        "",
        "| Request | large: ms | single record: ms | ratio |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {name} | {large:.1f} | {single:.1f} | {large / single:.1f}x |"
        for name, large, single in figures
    ]
    if raw_s is not None:
        lines += ["", f"The same month added up from the records alone (by model): {raw_s:.1f} s."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="modelmart-usage-") as scratch:
        data_dir = Path(scratch)
        database = data_dir / "modelmart.db"
        engine = create_engine_for(f"sqlite:///{database}")
        started = time.perf_counter()
        ids = write_ledger(engine, database, args.rows)
        print(f"wrote {args.rows:,} records in {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        migrate(engine)
        backfill_s = time.perf_counter() - started
        with engine.connect() as connection:
            rollups = connection.exec_driver_sql("SELECT count(*) FROM usage_rollups").scalar_one()
        raw_s = None
        if args.raw:
            started = time.perf_counter()
            rows = Ledger(session_factory(engine)).rows(ids["large"], MONTH.start, MONTH.end)
            usage_from_records(rows, "model")
            raw_s = time.perf_counter() - started
        engine.dispose()
        settings = Settings(
            data_dir=data_dir, auth_enabled=True, bootstrap_api_key=SecretStr(OPERATOR_KEY)
        )
        headers = {"Authorization": f"Bearer {OPERATOR_KEY}"}
        with TestClient(create_app(settings), headers=headers) as client:
            figures = measure(client, args.repeat)
    text = render(args.rows, backfill_s, figures, raw_s, rollups)
    args.output.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
