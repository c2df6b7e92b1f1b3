"""Reports benchmark: dashboards, drill-down, report builder, KPI API and RFM at chain scale.

Usage: .venv/bin/python benchmarks/reports.py [--scale chain] [--databases sqlite,postgres]
       [--requests 50] [--budget 30] [--keep] [--strict] [--only dashboard_hq,...]
       [--rebuild-months N | --no-rebuild]

For each database a child process loads the demo (``autocrm demo --scale <scale> --no-serve``)
into a throw-away AUTOCRM_VAR (SQLite there, or a throw-away PostgreSQL database made and
dropped with psql through ``--pg-admin-url``), then, in that process:

1. times ``reports.rollups.rebuild()`` (every store-day of the history, or of the last
   ``--rebuild-months`` months) once, then the
   worker's refresh of the period figures (``reports.figures.refresh()``);
2. with Django's test client (one thread, in-process) requests, after ``WARMUP`` requests,
   up to ``--requests`` times (at most ``--budget`` seconds each):
   - ``/reports/drill/`` at org level over the last 12 months as ``hq`` (target p95 ≤ 300 ms);
   - ``/reports/`` as ``hq``: its default period, this month, and the last 12 months (both
     p95 ≤ 300 ms: the figures additive per store-day come from the daily rollups);
   - ``/reports/`` as ``manager1`` with its default period (target p95 ≤ 150 ms);
   - ``GET /api/v1/kpis?metric=car_count&group_by=store`` over 12 months as ``hq`` (token);
3. creates a SavedReport through ``reports.builder.create_report`` (approved, settled work
   order lines of the last 12 months, store × month, count and sum of the amount) and times
   ``builder.run()`` as ``hq`` (target ≤ 2 s);
4. times ``reports.rfm.compute()`` over all the chain's customers twice (the target, 30 s, is
   for 1 000 000 customers; here the time at this scale is reported).

``--only`` names the measurements to take (the rebuild always runs: the dashboards read its
rollups). ``AUTOCRM_BENCH_DATA=<dir>`` (see ``server.reused_data``) reuses a demo kept by an
earlier ``--keep`` run instead of loading a new one; its database is migrated first.

Every measurement records the SQL query count of one request and its slowest queries; for a
miss the slowest query's plan is printed (``EXPLAIN QUERY PLAN`` / ``EXPLAIN ANALYZE``).
Results go to ``var/bench/reports-<timestamp>.json``; the data directories and databases are
removed unless ``--keep``."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from common import fresh_database, git_revision, percentile, stop_on_sigterm
from server import HarnessError, in_process, redact_url

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/postgres"
WARMUP = 3
TARGETS = {  # scenario -> (statistic, limit in ms)
    "drill_org_hq": ("p95", 300.0),
    "dashboard_hq": ("p95", 300.0),
    "dashboard_hq_12m": ("p95", 300.0),
    "dashboard_manager": ("p95", 150.0),
    "builder_store_month": ("p95", 2000.0),
    "rfm_compute": ("best", 30_000.0),  # the target is for 1 000 000 customers
}
LABELS = {
    "rollups_rebuild": "rollups rebuild() (all history)",
    "figures_refresh": "period figures refresh()",
    "drill_org_hq": "drill-down org, 12 months (hq)",
    "dashboard_hq": "/reports/ this month (hq)",
    "dashboard_hq_12m": "/reports/ 12 months (hq)",
    "dashboard_manager": "/reports/ (manager1)",
    "kpi_api_store": "API kpis car_count by store (hq)",
    "builder_store_month": "builder lines store×month (hq)",
    "rfm_compute": "rfm.compute()",
}


# --- child: inside one database ------------------------------------------------------------


def _slowest(captured: list[dict], n: int = 3) -> list[dict]:
    ranked = sorted(captured, key=lambda q: float(q.get("time") or 0), reverse=True)
    return [{"ms": round(float(q["time"]) * 1000, 1), "sql": q["sql"]} for q in ranked[:n]]


def _plan(sql: str) -> str:
    """The plan of one captured (parameters inlined) statement; '' when it cannot be had."""
    from django.db import connection

    sqlite = connection.vendor == "sqlite"
    prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (ANALYZE, BUFFERS) "
    try:
        with connection.cursor() as cursor:
            cursor.execute(prefix + sql)
            rows = cursor.fetchall()
    except Exception as exc:  # noqa: BLE001 (a diagnostic only)
        return f"(no plan: {exc})"
    if connection.vendor == "sqlite":
        return "\n".join(f"{r[0]:>4} {r[1]:>4} {r[-1]}" for r in rows)
    return "\n".join(r[0] for r in rows)


def _timed(fn, budget: float, requests: int, warmup: int = WARMUP) -> dict:
    """Warm up, capture the queries of one call, then time up to ``requests`` calls."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    for _ in range(warmup):
        fn()
    with CaptureQueriesContext(connection) as captured:
        t0 = time.perf_counter()
        fn()
        one_ms = (time.perf_counter() - t0) * 1000
    queries = list(captured.captured_queries)
    wall, cpu = [], []
    deadline = time.perf_counter() + budget
    while len(wall) < requests and time.perf_counter() < deadline:
        t0, c0 = time.perf_counter(), time.thread_time()
        fn()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
        reset_queries()
    return {
        "n": len(wall),
        "p50": percentile(wall, 50),
        "p95": percentile(wall, 95),
        "max": max(wall),
        "cpu_p95": percentile(cpu, 95),
        "queries": len(queries),
        "captured_ms": round(one_ms, 1),
        "sql_ms": round(sum(float(q.get("time") or 0) for q in queries) * 1000, 1),
        "slowest": _slowest(queries),
    }


def _get(client, path: str, **headers):
    def call():
        response = client.get(path, **headers)
        if response.status_code != 200:
            raise HarnessError(f"GET {path} answered {response.status_code}")
        return response

    return call


def measure(args: argparse.Namespace, started: float, out: Path) -> bool:
    from django.core.management import call_command
    from django.db import connection

    from autocrm.core.models import Store
    from autocrm.customers.models import Customer
    from autocrm.reports import builder, rollups
    from autocrm.reports.models import DailyStoreStat
    from autocrm.service.models import WorkOrder, WorkOrderLine

    call_command("migrate", verbosity=0)  # reused data (AUTOCRM_BENCH_DATA) may lag the code
    result: dict = {"load_s": time.perf_counter() - started, "vendor": connection.vendor}
    counts = {
        "stores": Store.objects.count(),
        "customers": Customer.objects.count(),
        "work_orders": WorkOrder.objects.count(),
        "work_order_lines": WorkOrderLine.objects.count(),
    }
    result["counts"] = counts
    print(f"  loaded in {result['load_s']:.0f} s: {json.dumps(counts)}", flush=True)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    rows: dict = {}

    if args.no_rebuild:  # a kept demo's rollups, as its load built them
        return _after_rebuild(args, rows, result, out, result["counts"])
    t0 = time.perf_counter()
    since = None
    if args.rebuild_months:  # the dashboards' months only (the rest as the demo built them)
        since = builder.period_window("last_12_months")[0]
        for _i in range(args.rebuild_months - 12):
            since = (since - datetime.timedelta(days=1)).replace(day=1)
    written = rollups.rebuild(start=since, end=datetime.date.today() if since else None)
    rows["rollups_rebuild"] = {"n": 1, "p50": (time.perf_counter() - t0) * 1000, "rows": written}
    rows["rollups_rebuild"]["since"] = since.isoformat() if since else "all"
    rows["rollups_rebuild"].update(p95=rows["rollups_rebuild"]["p50"])
    print(
        f"  rollups rebuild: {rows['rollups_rebuild']['p50'] / 1000:.1f} s, {written} store-days "
        f"({DailyStoreStat.objects.count()} rows)",
        flush=True,
    )

    return _after_rebuild(args, rows, result, out, result["counts"])


def _after_rebuild(
    args: argparse.Namespace, rows: dict, result: dict, out: Path, counts: dict
) -> bool:
    from django.test import Client

    from autocrm.core import audit, services
    from autocrm.core.models import User
    from autocrm.reports import builder, drill, figures

    # The worker's 10-minute job: the return rate and booking conversion of the quick
    # periods per store, region and org (the dashboard reads them while fresh).
    t0 = time.perf_counter()
    kept = figures.refresh()
    rows["figures_refresh"] = {"n": 1, "p50": (time.perf_counter() - t0) * 1000, "rows": kept}
    rows["figures_refresh"].update(p95=rows["figures_refresh"]["p50"])
    print(f"  period figures: {rows['figures_refresh']['p50'] / 1000:.1f} s, {kept} rows")

    hq = User.objects.get(username="hq")
    manager = User.objects.get(username="manager1")
    start, end = builder.period_window("last_12_months")
    period = f"from={start.isoformat()}&to={end.isoformat()}"
    result["period"] = [start.isoformat(), end.isoformat()]
    hq_client = Client(HTTP_HOST="127.0.0.1")
    hq_client.force_login(hq)
    mgr_client = Client(HTTP_HOST="127.0.0.1")
    mgr_client.force_login(manager)
    with audit.audit_context(user=hq):
        _token, raw = services.create_api_token(hq, "bench")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

    if drill.locate(hq).level != "org":
        raise HarnessError("the hq drill-down does not open at org level")
    scenarios = [
        ("drill_org_hq", _get(hq_client, f"/reports/drill/?{period}")),
        ("dashboard_hq", _get(hq_client, "/reports/")),
        ("dashboard_hq_12m", _get(hq_client, f"/reports/?{period}")),
        ("dashboard_manager", _get(mgr_client, "/reports/")),
        (
            "kpi_api_store",
            _get(hq_client, f"/api/v1/kpis?metric=car_count&group_by=store&{period}", **auth),
        ),
    ]
    for key, fn in scenarios:
        if not _wanted(args, key):
            continue
        rows[key] = _timed(fn, args.budget, args.requests)
        _line(key, rows[key])
    if _wanted(args, "builder_store_month"):
        _builder(args, hq, rows)
    if _wanted(args, "rfm_compute"):
        _rfm(counts, rows)
    return _verdicts(rows, result, out)


def _wanted(args: argparse.Namespace, key: str) -> bool:
    return not args.only or key in {k.strip() for k in args.only.split(",")}


def _builder(args: argparse.Namespace, hq, rows: dict) -> None:
    from autocrm.core import audit
    from autocrm.reports import builder

    with audit.audit_context(user=hq):
        report = builder.create_report(
            hq,
            name="基准: 工单明细 门店×月",
            dataset="work_order_lines",
            dimensions=["store", "month"],
            measures=[{"agg": "count"}, {"agg": "sum", "field": "amount"}],
            period="last_12_months",
        )
    res = builder.run(report, hq)
    if res.error or not res.rows:
        raise HarnessError(f"builder run gave no rows: {res.error}")
    rows["builder_store_month"] = _timed(
        lambda: builder.run(report, hq), args.budget, max(5, args.requests // 5), warmup=1
    )
    rows["builder_store_month"]["groups"] = len(res.rows)
    _line("builder_store_month", rows["builder_store_month"])


def _rfm(counts: dict, rows: dict) -> None:
    from autocrm.reports import rfm

    runs = []
    for _i in range(2):
        t0 = time.perf_counter()
        scored = rfm.compute()
        runs.append((time.perf_counter() - t0) * 1000)
    rows["rfm_compute"] = {
        "n": 2,
        "p50": min(runs),
        "p95": max(runs),
        "max": max(runs),
        "best": min(runs),
        "runs_ms": runs,
        "scored": scored,
        "customers": counts["customers"],
        "per_million_s": min(runs) / 1000 * 1_000_000 / max(1, counts["customers"]),
    }
    _line("rfm_compute", rows["rfm_compute"])


def _verdicts(rows: dict, result: dict, out: Path) -> bool:
    for key, row in rows.items():
        target = TARGETS.get(key)
        if target is None:
            continue
        stat, limit = target
        row["target"] = f"{stat} ≤ {limit:.0f} ms"
        row["pass"] = row[stat] <= limit
        if not row["pass"] and row.get("slowest"):
            sql = row["slowest"][0]["sql"]
            row["plan"] = _plan(sql)
            print(f"\n  MISS {LABELS[key]}: slowest query ({row['slowest'][0]['ms']} ms):")
            print("   ", sql[:1500])
            print("  plan:\n" + "\n".join("    " + ln for ln in row["plan"].splitlines()))
    result["rows"] = rows
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1, default=str))
    return all(r.get("pass", True) for r in rows.values())


def _line(key: str, row: dict) -> None:
    print(
        f"  {LABELS[key]:<36} q={row.get('queries', '-'):>4} n={row['n']:>3} "
        f"p50={row['p50']:>8.1f} p95={row['p95']:>8.1f} max={row['max']:>8.1f} ms",
        flush=True,
    )


def child(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    out = Path(args.out)
    return in_process(
        f"reports-{args.child}",
        args.scale,
        args.keep,
        lambda: measure(args, started, out),
        load_timeout=args.load_timeout,
    )


# --- parent --------------------------------------------------------------------------------


def run_database(db: str, args: argparse.Namespace, stamp: str) -> dict:
    out = ROOT / "var" / "bench" / f"reports-{db}-{stamp}.part.json"
    env = os.environ.copy()
    pg = None
    try:
        pg, why = fresh_database(
            db, args.pg_admin_url, f"autocrm_reports_{stamp.replace('-', '_')}", env
        )
        if why:
            return {"database": db, "skipped": why}
        cmd = [sys.executable, __file__, "--child", db, "--out", str(out), "--scale", args.scale]
        cmd += ["--requests", str(args.requests), "--budget", str(args.budget)]
        cmd += ["--load-timeout", str(args.load_timeout)] + (["--keep"] if args.keep else [])
        cmd += ["--only", args.only] if args.only else []
        cmd += ["--rebuild-months", str(args.rebuild_months)] if args.rebuild_months else []
        cmd += ["--no-rebuild"] if args.no_rebuild else []
        try:
            proc = subprocess.run(cmd, env=env, timeout=args.load_timeout + 1800, check=False)  # noqa: S603
        except subprocess.TimeoutExpired:
            return {"database": db, "failed": "timed out"}
        if not out.exists():
            return {"database": db, "failed": f"child exit {proc.returncode}, no results"}
        result = json.loads(out.read_text())
        result["database"] = db if pg is None else f"postgres ({redact_url(pg.url)})"
        return result
    finally:
        out.unlink(missing_ok=True)
        if pg is not None and not args.keep:
            pg.drop()


def report(results: list[dict]) -> bool:
    ok = True
    print(
        f"\n{'database':<9} {'measurement':<36} {'queries':>7} {'n':>4} {'p50 ms':>9} "
        f"{'p95 ms':>9} {'max ms':>9}  target"
    )
    for r in results:
        name = r["database"].split(" ")[0]
        if "rows" not in r:
            print(f"{name:<9} {r.get('skipped') or r.get('failed')}")
            ok = ok and "skipped" in r
            continue
        for key, row in r["rows"].items():
            verdict = ""
            if "pass" in row:
                verdict = f"{row['target']}: {'PASS' if row['pass'] else 'MISS'}"
                ok = ok and row["pass"]
            print(
                f"{name:<9} {LABELS[key]:<36} {row.get('queries', '-'):>7} {row['n']:>4} "
                f"{row['p50']:>9.1f} {row['p95']:>9.1f} {row.get('max', row['p95']):>9.1f}  "
                f"{verdict}"
            )
        rfm_row = r["rows"].get("rfm_compute")
        if rfm_row is None:
            continue
        print(
            f"{'':<9} rfm: {rfm_row['scored']:,} scored of {rfm_row['customers']:,} customers; "
            f"≈ {rfm_row['per_million_s']:.1f} s per million if linear (target for 1 000 000: "
            f"30 s; benchmarks/rfm.py measures that size)"
        )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["small", "chain", "large"], default="chain")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per page")
    parser.add_argument("--budget", type=float, default=30, help="seconds per measurement")
    parser.add_argument("--load-timeout", type=float, default=1800, help="demo load limit (s)")
    parser.add_argument("--pg-admin-url", default=os.environ.get("AUTOCRM_BENCH_PG", DEFAULT_PG))
    parser.add_argument("--keep", action="store_true", help="keep the data and databases")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--only", default="", help="comma-separated measurements to take")
    parser.add_argument(
        "--no-rebuild",
        action="store_true",
        help="measure on the rollups as they are (a demo reused with AUTOCRM_BENCH_DATA)",
    )
    parser.add_argument(
        "--rebuild-months",
        type=int,
        default=0,
        help="rebuild only the rollups of the last N months (>= 12; the dashboards' window) "
        "instead of all history, e.g. on a large demo reused with AUTOCRM_BENCH_DATA",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    stop_on_sigterm()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    print(f"reports benchmark, scale {args.scale}, revision {git_revision()}", flush=True)
    results = []
    for db in [d.strip() for d in args.databases.split(",") if d.strip()]:
        print(f"{db}:", flush=True)
        results.append(run_database(db, args, stamp))
    ok = report(results)
    path = ROOT / "var" / "bench" / f"reports-{stamp}.json"
    path.write_text(
        json.dumps(
            {
                "revision": git_revision(),
                "scale": args.scale,
                "when": datetime.datetime.now(datetime.UTC).isoformat(),
                "targets": {k: f"{s} ≤ {v:.0f} ms" for k, (s, v) in TARGETS.items()},
                "results": results,
            },
            ensure_ascii=False,
            indent=1,
            default=str,
        )
    )
    print(f"\nresults: {path.relative_to(ROOT)}")
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1):
        print(f"note: load average {load:.1f} on {os.cpu_count()} cores at the end")
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
