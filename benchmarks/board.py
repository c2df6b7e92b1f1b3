"""Job board benchmark: the board page of a store with 60 open work orders.

Usage: .venv/bin/python benchmarks/board.py [--orders 60] [--requests 200] [--keep]

Loads the small demo (`autocrm demo --scale small --no-serve`) into a throw-away AUTOCRM_VAR
(SQLite, production-like flags), tops store s001 up to ``--orders`` open work orders spread
over its stages (a third of them over their stage's target time) with the ORM, then requests
the board through Django's test client in this process, signed in as the store manager:
``GET /board/`` (the whole page), the 30 s refresh (the htmx fragment) and
``GET /api/v1/board``. Prints SQL queries per request and p50/p95/max over ``--requests``
requests each, after a short warm-up, as wall time and as the CPU time of this thread (the
fairer figure when other work shares the machine). Target: page p95 <= 80 ms (wall)."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import sys
import time
from pathlib import Path

from common import percentile
from server import HarnessError, in_process

ROOT = Path(__file__).resolve().parent.parent
USERNAME = "manager1"
PASSWORD = "demo1234"
STORE = "s001"
TARGET_P95_MS = 80.0
WARMUP = 10


def fill(store, count: int, rng: random.Random) -> int:
    """Open work orders in ``store`` up to ``count``; returns how many are open."""
    from django.utils import timezone

    from autocrm.core.models import User
    from autocrm.customers.models import Customer, Vehicle
    from autocrm.service.models import WorkOrder
    from autocrm.workflow import services
    from autocrm.workflow.models import Stage, StageVisit

    services.ensure_default_stages(store)
    stages = list(Stage.objects.filter(store=store, is_active=True).order_by("sort"))
    advisors = list(User.objects.filter(stores=store, is_active=True)[:5]) or [None]
    open_now = WorkOrder.objects.filter(store=store).exclude(status__in=WorkOrder.CLOSED_STATUSES)
    missing = max(0, count - open_now.count())
    now = timezone.now()
    brands = [("丰田", "凯美瑞"), ("本田", "雅阁"), ("大众", "帕萨特"), ("比亚迪", "汉 EV")]
    for i in range(missing):
        customer = Customer.objects.create(
            org_id=store.org_id,
            home_store=store,
            name=f"看板客户{i:03d}",
            mobile=f"1390000{i:04d}",
        )
        brand, model = rng.choice(brands)
        vehicle = Vehicle.objects.create(
            org_id=store.org_id,
            home_store=store,
            owner=customer,
            plate=f"京B{rng.randrange(10000, 99999)}",
            brand=brand,
            model=model,
        )
        stage = stages[i % len(stages)]
        late = i % 3 == 0
        minutes = stage.target_minutes * (2 if late else 0.5)
        entered = now - datetime.timedelta(minutes=minutes)
        wo = WorkOrder.objects.create(
            org_id=store.org_id,
            store=store,
            number=f"{store.code.upper()}-BENCH-{i:04d}",
            customer=customer,
            vehicle=vehicle,
            advisor=advisors[i % len(advisors)],
            status=rng.choice(["draft", "estimate", "in_progress", "qc", "ready"]),
            promised_at=now + datetime.timedelta(hours=rng.randrange(1, 48)),
            opened_at=entered - datetime.timedelta(minutes=30),
            stage=stage,
            stage_entered_at=entered,
        )
        StageVisit.objects.create(work_order=wo, stage=stage, entered_at=entered)
    return open_now.count()


def measure(client, path: str, requests: int, extra: dict) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(WARMUP):
        response = client.get(path, **extra)
        if response.status_code != 200:
            raise HarnessError(f"GET {path} returned {response.status_code}")
    with CaptureQueriesContext(connection) as captured:
        client.get(path, **extra)
    queries = len(captured.captured_queries)
    timings, cpu = [], []
    for _ in range(requests):
        t0, c0 = time.perf_counter(), time.thread_time()
        response = client.get(path, **extra)
        timings.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
        if response.status_code != 200:
            raise HarnessError(f"GET {path} returned {response.status_code}")
    return {
        "queries": queries,
        "bytes": len(response.content),
        "p50": percentile(timings, 50),
        "p95": percentile(timings, 95),
        "max": max(timings),
        "cpu50": percentile(cpu, 50),
        "cpu95": percentile(cpu, 95),
    }


def run(args: argparse.Namespace) -> bool:
    """Runs after AUTOCRM_VAR points at a loaded data directory."""
    from django.test import Client

    from autocrm.core.models import Store, User
    from autocrm.workflow import selectors

    store = Store.objects.get(code=STORE)
    open_orders = fill(store, args.orders, random.Random(args.seed))
    user = User.objects.get(username=USERNAME)
    board = selectors.board(user, store.pk)
    overdue = sum(column.overdue_count for column in board.columns)

    page = Client(HTTP_HOST="127.0.0.1")
    page.force_login(user)
    api = Client(HTTP_HOST="127.0.0.1")
    token = api.post(
        "/api/v1/auth/token",
        json.dumps({"username": USERNAME, "password": PASSWORD}),
        content_type="application/json",
    ).json()["token"]
    cases = [
        ("GET /board/ (page)", page, f"/board/?store={store.pk}", {}),
        (
            "GET /board/ (htmx refresh)",
            page,
            f"/board/?store={store.pk}",
            {"HTTP_HX_REQUEST": "true"},
        ),
        (
            "GET /api/v1/board",
            api,
            f"/api/v1/board?store={store.pk}",
            {"HTTP_AUTHORIZATION": f"Bearer {token}"},
        ),
    ]
    print(
        f"store {store.code} ({store.name}): {open_orders} open work orders, "
        f"{len(board.columns)} stages, {overdue} over target; {args.requests} requests each, "
        "in-process (Django test client, one thread, SQLite)"
    )
    print(
        f"{'request':<28} {'queries':>7} {'bytes':>7} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}"
        f" {'cpu p50':>8} {'cpu p95':>8}"
    )
    results = {}
    for label, client, path, extra in cases:
        r = measure(client, path, args.requests, extra)
        results[label] = r
        print(
            f"{label:<28} {r['queries']:>7} {r['bytes']:>7} "
            f"{r['p50']:>8.1f} {r['p95']:>8.1f} {r['max']:>8.1f} "
            f"{r['cpu50']:>8.1f} {r['cpu95']:>8.1f}"
        )
    page = results["GET /board/ (page)"]
    page_p95 = page["p95"]
    verdict = "PASS" if page_p95 <= TARGET_P95_MS else "MISS"
    print(f"target: board page p95 <= {TARGET_P95_MS:.0f} ms: {page_p95:.1f} ms {verdict}")
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1):
        print(
            f"note: load average {load:.1f} on {os.cpu_count()} cores: other work competed for "
            f"the CPU; this thread's own CPU time (p95 {page['cpu95']:.1f} ms) is the fairer figure"
        )
    return page_p95 <= TARGET_P95_MS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=60, help="open work orders in the store")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per URL")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    args = parser.parse_args(argv)
    status = in_process("board", "small", args.keep, lambda: run(args))
    return status if status == 2 or args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
