"""The cost of selling: the same iris request with accounts off, and with authentication,
rate limits, quota checks and the usage ledger on (``python bench/metering.py``).

Two servers run side by side, each with iris in one process-isolated instance; wrk loads
them in turn (interleaved, so a slow minute of the machine hits both), at 1 connection for
latency and 64 for throughput. The metered server bills every request to a pay-as-you-go
organisation with a price and a (never reached) per-minute limit, so every check runs.
Results go to ``bench/METERING.md``.

``--in-process`` measures the metered path alone, without HTTP, wrk or a model: a metered
route (``MeteredRoute`` and its ``Caller`` permission) that answers at once, called directly
with many requests in flight, its CPU time per request with accounts off and on (a figure
that a busy machine moves far less than wrk's throughput).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import workload
from fastapi import APIRouter, FastAPI
from live_server import Server, running_server
from starlette.requests import Request
from starlette.responses import Response
from wrk_load import Scenario, WrkRun, run_wrk

from modelmart import Client
from modelmart.accounts.service import AccountService
from modelmart.billing.plans import Plan, PlanKind
from modelmart.billing.prices import Price
from modelmart.billing.service import Billing
from modelmart.gateway.metering import Caller, MeteredRoute
from modelmart.gateway.usage import report_usage
from modelmart.schemas.accounts import KeyCreate, OrganizationCreate
from modelmart.store.db import create_engine_for, migrate, session_factory
from modelmart.tenancy import Principal

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "METERING.md"
OPERATOR_KEY = "mm_0123456789ab_benchmark-operator-key"
CONNECTIONS = (1, 64)
FINDINGS = "## Findings"
IN_PROCESS_CONCURRENCY = (1, 32)  # 32: the model's batches under 64 connections
ANSWER = b'{"predictions":[{"label":0,"probabilities":[0.9,0.05,0.05]}]}'
ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="time the metered path alone (CPU µs per request), without servers or wrk",
    )
    parser.add_argument("--rounds", type=int, default=400, help="--in-process rounds")
    return parser.parse_args(argv)


def customer_key(server: Server, model: str = workload.IRIS) -> str:
    """A pay-as-you-go customer with a price on ``model`` and a generous per-minute limit."""
    headers = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as operator:
        plan = {"name": "bench", "kind": "pay-as-you-go", "requests_per_minute": 10_000_000}
        operator.put("/v1/plans/bench", json=plan).raise_for_status()
        price = {"model": model, "unit": "requests", "amount": "0.0001"}
        operator.put("/v1/prices", json=price).raise_for_status()
        body = {"slug": "bench", "name": "Bench", "plan": "bench", "owner_email": "b@bench.io"}
        created = operator.post("/v1/orgs", json=body)
        created.raise_for_status()
        key: str = created.json()["owner_key"]["key"]
        return key


def deploy_iris(server: Server, iris: Path, key: str | None) -> None:
    with Client(server.url, timeout=600, api_key=key) as client:
        client.push_version(workload.IRIS, iris, task="classification")
        client.deploy(workload.IRIS, instances=1)
        client.predict(workload.IRIS, [workload.iris_rows()[0]])


def measure(
    servers: dict[str, tuple[Server, tuple[str, ...]]],
    bodies: Path,
    duration_s: float,
    repetitions: int,
) -> dict[tuple[str, int], list[WrkRun]]:
    runs: dict[tuple[str, int], list[WrkRun]] = {}
    for connections in CONNECTIONS:
        scenario = Scenario(f"c{connections}", "iris", workload.IRIS, bodies, connections)
        for server, headers in servers.values():  # warm-up
            run_wrk(server.url, scenario, 3, headers)
        for _ in range(repetitions):
            for name, (server, headers) in servers.items():
                run, _ = run_wrk(server.url, scenario, duration_s, headers)
                runs.setdefault((name, connections), []).append(run)
    return runs


def render(runs: dict[tuple[str, int], list[WrkRun]], duration_s: float) -> str:
    def median(name: str, connections: int, field: str) -> float:
        return statistics.median(getattr(run, field) for run in runs[(name, connections)])

    lines = [
        "# Metering cost",
        "",
        f"Generated by `bench/metering.py` on {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}: "
        f"iris, one process-isolated instance, wrk on loopback, {duration_s:g} s runs, "
        "median of the interleaved repetitions.",
        "",
        "| Load | off: req/s | on: req/s | throughput cost | off: p50 ms | on: p50 ms | "
        "added p50 | on: p99 ms | non-2xx (on) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for connections in CONNECTIONS:
        off_rps, on_rps = (
            median("off", connections, "requests_per_s"),
            median("on", connections, "requests_per_s"),
        )
        off_p50, on_p50 = median("off", connections, "p50_ms"), median("on", connections, "p50_ms")
        errors = sum(run.non_2xx for run in runs[("on", connections)])
        lines.append(
            f"| {connections} connection{'s' if connections > 1 else ''} | {off_rps:,.0f} | "
            f"{on_rps:,.0f} | {1 - on_rps / off_rps:.1%} | {off_p50:.2f} | {on_p50:.2f} | "
            f"{on_p50 - off_p50:+.2f} ms | {median('on', connections, 'p99_ms'):.2f} | {errors} |"
        )
    lines += [
        "",
        "Targets: added p50 latency under 0.5 ms; metering costs at most 10 % of throughput "
        "on the tiny model.",
        "",
    ]
    return "\n".join(lines)


def metered_app(billing: Billing, accounts: AccountService, *, auth_enabled: bool) -> FastAPI:
    """A server with one metered route that answers at once and reports its usage, as the
    inference routes do, on the services ``modelmart serve`` would build."""
    router = APIRouter(route_class=MeteredRoute)

    @router.post("/v1/models/{name}:predict")
    async def predict(name: str, request: Request, principal: Caller) -> Response:
        report_usage(request, workload.IRIS, 1, {"items": 1})
        return Response(ANSWER, media_type="application/json")

    app = FastAPI()
    app.include_router(router)
    app.state.services = SimpleNamespace(
        settings=SimpleNamespace(auth_enabled=auth_enabled), accounts=accounts, billing=billing
    )
    return app


def metering_services(folder: Path) -> tuple[Billing, AccountService, str]:
    """Billing and accounts as ``modelmart serve`` builds them (an inline ledger on a SQLite
    file without fsync), with the customer of :func:`customer_key`."""
    url = f"sqlite:///{folder / 'modelmart.db'}"
    engine = create_engine_for(url)
    migrate(engine)
    sessions = session_factory(engine)
    ledger = session_factory(create_engine_for(url, sqlite_fsync=False))
    billing = Billing(sessions, "", ledger, ledger_inline=True)
    billing.start()
    accounts = AccountService(sessions)
    billing.put_plan(
        Plan(name="bench", kind=PlanKind.PAY_AS_YOU_GO, requests_per_minute=10_000_000)
    )
    billing.put_price(Price(model=workload.IRIS, unit="requests", amount=Decimal("0.0001")), None)
    accounts.create_organisation(OrganizationCreate(slug="bench", name="Bench", plan="bench"))
    operator = Principal.single_user()
    key = accounts.create_key(operator, "bench", KeyCreate(name="bench")).key
    return billing, accounts, key


async def cpu_us_per_request(app: ASGIApp, key: str, inflight: int) -> float:
    """CPU time per request of ``inflight`` requests served concurrently."""
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {key}".encode()),
    ]
    request = {"type": "http.request", "body": b'{"instances":[[5.1,3.5,1.4,0.2]]}'}

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: dict[str, Any]) -> None:
        return None

    async def one(index: int) -> None:
        scope = {
            "type": "http",
            "method": "POST",
            "path": f"/v1/models/{workload.IRIS}:predict",
            "headers": headers,
            "query_string": b"",
            "state": {"request_id": f"{index:032x}"},
        }
        await app(scope, receive, send)

    started = time.process_time()
    await asyncio.gather(*(one(index) for index in range(inflight)))
    return (time.process_time() - started) / inflight * 1e6


async def measure_in_process(rounds: int) -> str:
    """Off and on interleaved, ``rounds`` times per concurrency; the median of each."""
    with tempfile.TemporaryDirectory(prefix="modelmart-metering-") as scratch:
        billing, accounts, key = metering_services(Path(scratch))
        apps: dict[str, ASGIApp] = {
            "off": metered_app(billing, accounts, auth_enabled=False),
            "on": metered_app(billing, accounts, auth_enabled=True),
        }
        lines = [
            "| Requests in flight | off: CPU µs/request | on: CPU µs/request | metering µs |",
            "|---:|---:|---:|---:|",
        ]
        for inflight in IN_PROCESS_CONCURRENCY:
            times: dict[str, list[float]] = {name: [] for name in apps}
            for _ in range(rounds):
                for name, app in apps.items():
                    times[name].append(await cpu_us_per_request(app, key, inflight))
            off, on = (statistics.median(times[name]) for name in ("off", "on"))
            lines.append(f"| {inflight} | {off:.1f} | {on:.1f} | {on - off:.1f} |")
        await billing.close()
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.in_process:
        print(asyncio.run(measure_in_process(args.rounds)))
        return 0
    with tempfile.TemporaryDirectory(prefix="modelmart-metering-") as scratch:
        folder = Path(scratch)
        iris = workload.train_iris(folder / "iris.skops")
        bodies = workload.write_bodies(folder / "iris.jsonl", workload.iris_rows())
        metered_env = {
            "MODELMART_AUTH_ENABLED": "true",
            "MODELMART_BOOTSTRAP_API_KEY": OPERATOR_KEY,
        }
        with (
            running_server(folder / "off", folder / "off.log") as off,
            running_server(folder / "on", folder / "on.log", metered_env) as on,
        ):
            deploy_iris(off, iris, None)
            key = customer_key(on)
            deploy_iris(on, iris, key)
            servers = {"off": (off, ()), "on": (on, (f"Authorization: Bearer {key}",))}
            runs = measure(servers, bodies, args.duration, args.repetitions)
    text = render(runs, args.duration)
    findings = ""
    if args.output.is_file():  # hand-written findings below the marker survive a rerun
        previous = args.output.read_text(encoding="utf-8")
        findings = previous[previous.find(FINDINGS) :] if FINDINGS in previous else ""
    args.output.write_text(text + ("\n" + findings if findings else ""), encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
