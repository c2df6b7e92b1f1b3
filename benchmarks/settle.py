"""Settlements per second over HTTP on PostgreSQL, with ``autocrm serve``'s default workers.

1. Creates a throw-away PostgreSQL database (``--pg-admin-url``, trust auth on 127.0.0.1 by
   default) and a data directory under ``var/bench/``; loads the ``small`` demo into it.
2. Prepares ``--orders`` work orders in store s001 through the services, as the floor leaves
   them: three approved lines (labour, part, labour), started, lines done, QC passed, ``ready``.
3. Starts ``autocrm serve`` with its default web workers and threads, gets an API token for
   the advisor and, at each concurrency, lets that many clients settle orders back to back:
   ``POST /api/v1/work-orders/{id}/actions/settle`` with the order's version and a split
   payment (WeChat + cash), each order once. A run lasts ``--seconds`` or until its share of
   the orders is used up.
4. Checks afterwards that every order answered 200 is settled, exactly once, with payments
   equal to its total, and that no order was settled twice.

Reports settlements/s, p50/p95 latency and errors per concurrency; the target is 100
settlements/s sustained. Both the database and the data directory are removed afterwards
unless ``--keep``.

To compare revisions without loading and preparing again (minutes on a busy machine), point
``AUTOCRM_BENCH_DATA`` at a data directory kept by an earlier ``--keep`` run and
``AUTOCRM_BENCH_DATABASE_URL`` at its database: the ready orders the earlier run prepared and
did not settle are used (and only the missing ones prepared); nothing is removed afterwards."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
from decimal import Decimal
from pathlib import Path

import procinfo
from common import git_revision, rounded, stop_on_sigterm
from loadgen import build_request, run_load
from server import (
    HOST,
    HarnessError,
    PgDatabase,
    Server,
    api_token,
    bench_env,
    free_port,
    redact_url,
    run_step,
)

ROOT = Path(__file__).resolve().parent.parent
STORE = "s001"
ADVISOR = "advisor1"
PASSWORD = "demo1234"
TARGET_PER_S = 100.0
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/postgres"
PREFIX = "结算客户"  # the names of the customers whose orders are prepared for settling


def prepare(count: int, first: int = 0) -> list[tuple[int, int, str, str]]:
    """``count`` ready work orders, each of a new customer's car: (id, version, WeChat part,
    cash part) of each."""
    from django.db import transaction

    from autocrm.core.models import Store, User
    from autocrm.customers import services as customer_services
    from autocrm.service import services

    store = Store.objects.get(code=STORE)
    advisor = User.objects.get(username=ADVISOR)
    tech = User.objects.filter(stores=store, roles__code="technician", is_active=True).first()
    if tech is None:
        raise HarnessError(f"store {STORE} has no technician in the demo")
    checks = {name: True for name in services.settings_for(store.pk).qc_items}
    orders = []
    for i in range(first, first + count):
        with transaction.atomic():
            customer = customer_services.create_customer(
                advisor, home_store_id=store.pk, name=f"{PREFIX}{i:05d}", mobile=f"1395{i:07d}"
            )
            car = customer_services.create_vehicle(
                advisor, owner_id=customer.pk, home_store_id=store.pk, plate=f"沪K{i:05d}"
            )
            wo = services.create_work_order(advisor, vehicle=car, mileage_in=20000 + i)
            lines = [
                services.add_line(advisor, wo, kind="labour", name="更换机油机滤", unit_price="60"),
                services.add_line(
                    advisor, wo, kind="part", name="全合成机油", unit_price="368", quantity="1"
                ),
                services.add_line(advisor, wo, kind="labour", name="四轮定位", unit_price="180"),
            ]
            services.record_approval(
                advisor, wo, {ln.pk: "approved" for ln in lines}, channel="in_person"
            )
            services.perform(advisor, wo, "start")
            for line in lines:
                services.assign_line(advisor, line, [tech.pk])
                services.mark_line_done(tech, line)
            services.perform(tech, wo, "qc")
            services.record_qc(tech, wo, checks=checks)
            wo.refresh_from_db()
        if wo.status != "ready":
            raise HarnessError(f"{wo.number} is {wo.status}, not ready")
        half = (wo.total / 2).quantize(Decimal("0.01"))
        orders.append((wo.pk, wo.version, str(half), str(wo.total - half)))
    return orders


def ready_prepared(count: int) -> list[tuple[int, int, str, str]]:
    """Up to ``count`` orders an earlier run prepared and left ready (a reused database), then
    as many new ones as are missing."""
    from django.db.models import Max

    from autocrm.customers.models import Customer
    from autocrm.service.models import WorkOrder

    ours = WorkOrder.objects.filter(
        store__code=STORE, customer__name__startswith=PREFIX, status=WorkOrder.Status.READY
    ).order_by("pk")
    orders = []
    for pk, version, total in ours.values_list("pk", "version", "total")[:count]:
        half = (total / 2).quantize(Decimal("0.01"))
        orders.append((pk, version, str(half), str(total - half)))
    if len(orders) < count:
        last = Customer.objects.filter(name__startswith=PREFIX).aggregate(m=Max("name"))["m"]
        first = int(last[len(PREFIX) :]) + 1 if last else 0
        orders += prepare(count - len(orders), first)
    return orders


def verify(settled_ids: list[int]) -> dict:
    """Every order answered 200 is settled once, its payments equal to its total."""
    from django.db.models import Count, Sum

    from autocrm.service.models import Payment, WorkOrder

    rows = WorkOrder.objects.filter(pk__in=settled_ids).values_list("pk", "status", "total")
    paid = dict(
        Payment.objects.filter(work_order_id__in=settled_ids)
        .values("work_order_id")
        .annotate(s=Sum("amount"), n=Count("pk"))
        .values_list("work_order_id", "s")
    )
    wrong = [pk for pk, status, total in rows if status != "settled" or paid.get(pk) != total]
    return {"checked": len(settled_ids), "inconsistent": wrong[:20], "ok": not wrong}


def measure(
    port: int, token: str, queue: list, level: int, args, server_pid: int
) -> tuple[dict, list[int]]:
    """``level`` clients settle orders from ``queue`` until it or the time runs out. Also the
    CPU the server's processes (web workers, background worker) spent per settlement, a figure
    that other programs on a shared machine disturb less than the rate."""
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "Content-Type": "application/json",
    }
    sent: list[int] = []

    def next_request() -> bytes | None:
        if not queue:
            return None
        pk, version, wechat, cash = queue.pop()
        sent.append(pk)
        body = {
            "version": version,
            "payments": [
                {"method": "wechat", "amount": wechat},
                {"method": "cash", "amount": cash},
            ],
        }
        return build_request(
            HOST,
            port,
            f"/api/v1/work-orders/{pk}/actions/settle",
            headers,
            method="POST",
            body=json.dumps(body).encode(),
        )

    cpu_before = procinfo.tree_cpu_seconds(server_pid)
    stats = asyncio.run(
        run_load(HOST, port, next_request, level, args.seconds, len(queue), args.timeout)
    )
    cpu = procinfo.tree_cpu_seconds(server_pid) - cpu_before
    row = {
        "concurrency": level,
        "settled": stats.ok,
        "seconds": rounded(stats.elapsed, 2),
        "per_s": rounded(stats.rps, 1),
        "p50_ms": rounded(stats.percentile(50)),
        "p95_ms": rounded(stats.percentile(95)),
        "p99_ms": rounded(stats.percentile(99)),
        "errors": stats.errors,
        "error_detail": stats.error_detail(),
        "server_cpu_ms": rounded(1000 * cpu / stats.ok, 1) if stats.ok else None,
        "load_avg": round(os.getloadavg()[0], 2),
    }
    return row, sent


def run(args: argparse.Namespace, data_dir: Path, cleanup: list, reused_url: str = "") -> dict:
    env = bench_env(data_dir)
    if reused_url:
        database_url = reused_url
        print(f"reusing {redact_url(database_url)} and {data_dir}", flush=True)
    else:
        pg = PgDatabase(args.pg_admin_url, f"autocrm_settle_{time.strftime('%Y%m%d_%H%M%S')}")
        why = pg.reachable()
        if why:
            where = redact_url(args.pg_admin_url)
            raise HarnessError(f"PostgreSQL not reachable at {where}: {why}")
        pg.create()
        if not args.keep:
            cleanup.append(pg.drop)
        database_url = pg.url
    env["DATABASE_URL"] = database_url
    if not reused_url:
        print(f"loading the small demo into {redact_url(database_url)} …", flush=True)
        run_step(["demo", "--scale", "small", "--no-serve"], env)
    run_step(["manage", "collectstatic", "--noinput", "-v", "0"], env)

    for key in ("AUTOCRM_VAR", "AUTOCRM_DEBUG", "AUTOCRM_TESTING", "DATABASE_URL"):
        os.environ[key] = env[key]
    os.environ.pop("AUTOCRM_HUEY_IMMEDIATE", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "autocrm.settings"
    import django

    django.setup()
    from django.db import connections

    total = args.orders * len(args.levels)
    print(f"preparing {total} ready work orders …", flush=True)
    t0 = time.perf_counter()
    orders = ready_prepared(total) if reused_url else prepare(total)
    prepare_s = time.perf_counter() - t0
    print(f"prepared in {prepare_s:.1f} s", flush=True)
    connections.close_all()

    port = free_port()
    server = Server(env, port, data_dir / "server.log", [])
    cleanup.insert(0, server.stop)
    readiness = server.wait_ready()
    token = api_token(port, ADVISOR, PASSWORD)
    rows, settled = [], []
    for i, level in enumerate(args.levels):
        queue = orders[i * args.orders : (i + 1) * args.orders]
        queue.reverse()
        busy = procinfo.other_cpu_share(1.0, [os.getpid(), server.pid])
        print(f"  settling @ {level} clients …", flush=True)
        row, sent = measure(port, token, queue, level, args, server.pid)
        row["busy_before_pct"] = round(busy)
        rows.append(row)
        settled += sent
    from autocrm.service.models import WorkOrder

    ok_ids = list(WorkOrder.objects.filter(pk__in=settled, status="settled").values_list("pk"))
    check = verify([pk for (pk,) in ok_ids])
    connections.close_all()
    best = max((r["per_s"] or 0.0) for r in rows)
    clean = all(r["errors"] == 0 for r in rows)
    return {
        "timestamp": time.strftime("%Y%m%d-%H%M%S"),
        "revision": git_revision(),
        "database": redact_url(database_url),
        "server_args": " ".join(server.command[1:]),
        "prepare_s": round(prepare_s, 1),
        "readiness_s": round(readiness, 2),
        "runs": rows,
        "consistency": check,
        "target": {
            "goal": f">= {TARGET_PER_S:.0f} settlements/s, no errors",
            "best_per_s": best,
            "met": best >= TARGET_PER_S and clean and check["ok"],
        },
    }


def print_report(result: dict) -> None:
    print(f"\nrevision {result['revision']}; {result['database']}; {result['server_args']}")
    heads = ("clients", 7), ("settled", 8), ("s", 6), ("per s", 7), ("p50", 7), ("p95", 7)
    tail = ("cpu ms", 7), ("busy %", 7), ("load", 6), ("errors", 7)
    print(" ".join(f"{name:>{width}}" for name, width in (*heads, *tail)))
    for r in result["runs"]:
        print(
            f"{r['concurrency']:>7} {r['settled']:>8} {r['seconds']:>6} {r['per_s']:>7} "
            f"{r['p50_ms']:>7} {r['p95_ms']:>7} {r['server_cpu_ms']!s:>7} "
            f"{r['busy_before_pct']:>7} {r['load_avg']:>6} {r['errors']:>7} "
            f"{r['error_detail'] or ''}"
        )
    print("cpu ms: the server's CPU per settlement; busy %: other programs' CPU before the run")
    check = result["consistency"]
    print(
        f"consistency: {check['checked']} settled orders, payments = totals: "
        f"{'yes' if check['ok'] else 'NO ' + str(check['inconsistent'])}"
    )
    target = result["target"]
    print(
        f"target: {target['goal']}: best {target['best_per_s']}/s "
        f"{'PASS' if target['met'] else 'MISS'}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1500, help="ready orders per concurrency")
    parser.add_argument("--concurrency", default="4,10,20")
    parser.add_argument("--seconds", type=float, default=30.0, help="longest run per level")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout")
    parser.add_argument("--pg-admin-url", default=os.environ.get("AUTOCRM_BENCH_PG", DEFAULT_PG))
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    parser.add_argument("--keep", action="store_true", help="keep the database and directory")
    args = parser.parse_args(argv)
    args.levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    stop_on_sigterm()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    reused_dir = os.environ.get("AUTOCRM_BENCH_DATA", "")
    reused_url = os.environ.get("AUTOCRM_BENCH_DATABASE_URL", "")
    if reused_dir or reused_url:
        if not (reused_url and Path(reused_dir).is_dir()):
            print(
                "failed: AUTOCRM_BENCH_DATA (a kept data directory) and "
                "AUTOCRM_BENCH_DATABASE_URL (its database) go together",
                file=sys.stderr,
            )
            return 2
        data_dir, keep = Path(reused_dir).resolve(), True
    else:
        data_dir, keep = ROOT / "var" / "bench" / f"settle-{stamp}", args.keep
        data_dir.mkdir(parents=True)
    cleanup: list = []
    try:
        result = run(args, data_dir, cleanup, reused_url)
    except HarnessError as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return 2
    finally:
        for step in cleanup:
            step()
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    (ROOT / "var" / "bench" / f"settle-{stamp}.json").write_text(json.dumps(result, indent=2))
    print_report(result)
    return 1 if args.strict and not result["target"]["met"] else 0


if __name__ == "__main__":
    sys.exit(main())
