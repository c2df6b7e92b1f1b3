"""Maintenance-prediction benchmark: ``customers.maintenance.refresh()`` over many vehicles.

For each database (``--db sqlite,postgresql``) it creates a throw-away database (a data
directory under ``var/bench/`` for SQLite; a database created with psql on ``--pg-admin-url``
for PostgreSQL), and in a child process (one Django set-up per database):

1. migrates it and bulk-loads ``--vehicles`` vehicles (default 1 300 000, the ``large`` demo's
   fleet) in ``--stores`` stores, with 0–6 mileage readings each (~3 on average, driven
   10–150 km a day), a last service for most of them, and shop-floor settings with other
   intervals for a third of the stores;
2. times ``refresh()`` — the first full run (every prediction written), a second one (nothing
   changed: the nightly steady state), a nightly run after 1 % of the vehicles got a new
   reading, ``refresh(vehicle_ids)`` of 10 000 vehicles — with the time of each step, and
   ``refresh_vehicle()`` (what a new reading or a settlement costs) on 200 vehicles.

Prints a table; writes the figures as JSON to ``var/bench/maintenance-<timestamp>.json``. The
databases and data directories are removed afterwards unless ``--keep``.

Usage: .venv/bin/python benchmarks/maintenance.py [--vehicles 100000] [--db sqlite]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import git_revision, percentile, rounded, stop_on_sigterm
from server import HarnessError, PgDatabase, bench_env, redact_url

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "var" / "bench"
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/postgres"
CHUNK = 50_000
TARGET_S = 60.0


# --- child: one database ---------------------------------------------------------------------


def load(n_vehicles: int, n_stores: int, seed: int) -> dict:
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from autocrm.core.models import Organization, Store
    from autocrm.customers.demo import VEHICLE_COLUMNS, Writer
    from autocrm.customers.models import MileageReading, Vehicle
    from autocrm.service.models import ServiceSettings

    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    migrate_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    rng = random.Random(seed)  # noqa: S311 - benchmark data
    today = timezone.localdate()
    stamp = timezone.now().isoformat()
    with transaction.atomic():
        org = Organization.objects.create(name="基准集团", code="bench-maint")
        stores = Store.objects.bulk_create(
            [Store(org=org, name=f"基准{i}店", code=f"m{i:04d}") for i in range(n_stores)]
        )
        ServiceSettings.objects.bulk_create(
            [
                ServiceSettings(store=s, service_interval_km=7_500, service_interval_months=12)
                for s in stores[::3]
            ]
        )
    writer = Writer()
    vid, rid = writer.next_id(Vehicle), writer.next_id(MileageReading)
    columns = [*VEHICLE_COLUMNS, "last_service_on", "last_service_km"]
    reading_columns = ["id", "vehicle_id", "km", "read_on", "source", "note", "created_at"]
    for start in range(0, n_vehicles, CHUNK):
        vehicles, readings = [], []
        for i in range(start, min(start + CHUNK, n_vehicles)):
            per_day = rng.uniform(10, 150) if rng.random() < 0.9 else rng.uniform(0, 10)
            day = today - datetime.timedelta(days=rng.randint(60, 1500))
            km = rng.randint(0, 150_000)
            points = []
            for _r in range(rng.choice((0, 1, 2, 2, 3, 3, 4, 5, 6))):
                gap = rng.randint(20, 300)
                day = min(today, day + datetime.timedelta(days=gap))
                km += int(per_day * gap)
                points.append((day, km))
                readings.append((rid, vid, km, day.isoformat(), "visit", "", stamp))
                rid += 1
            last_on = last_km = None
            if points and rng.random() < 0.8:
                last_on, last_km = rng.choice(points)
            elif rng.random() < 0.2:
                last_on = today - datetime.timedelta(days=rng.randint(0, 400))
            cur_on, cur_km = points[-1] if points else (None, None)
            vehicles.append(
                (
                    vid,
                    org.pk,
                    stores[i % n_stores].pk,
                    None,
                    "",
                    True,
                    "",
                    "",
                    True,
                    "",
                    "",
                    None,
                    "",
                    "",
                    "",
                    None,
                    None,
                    "",
                    None,
                    None,
                    cur_km,
                    cur_on.isoformat() if cur_on else None,
                    "{}",
                    stamp,
                    stamp,
                    last_on.isoformat() if last_on else None,
                    last_km,
                )
            )
            vid += 1
        with transaction.atomic():
            writer.insert(Vehicle, columns, vehicles)
            writer.insert(MileageReading, reading_columns, readings)
    writer.reset_sequences()
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE customers_vehicle")
            cursor.execute("VACUUM ANALYZE customers_mileagereading")
    analyze_s = time.perf_counter() - t0
    return {
        "vehicles": writer.counts.get(Vehicle, 0),
        "readings": writer.counts.get(MileageReading, 0),
        "stores": n_stores,
        "migrate_s": rounded(migrate_s, 1),
        "load_s": rounded(load_s, 1),
        "analyze_s": rounded(analyze_s, 1),
    }


def timed_refresh(ids=None) -> dict:
    from autocrm.customers import maintenance

    steps: dict[str, float] = {}
    t0 = time.perf_counter()
    changed = maintenance.refresh(ids, timings=steps)
    return {
        "seconds": rounded(time.perf_counter() - t0, 2),
        "changed": changed,
        "steps": {k: rounded(v, 2) for k, v in steps.items()},
    }


def new_readings(share: float, seed: int) -> int:
    """A new visit reading for ``share`` of the vehicles (with their current mileage)."""
    from django.db import connection, transaction
    from django.utils import timezone

    from autocrm.customers.models import MileageReading

    rng = random.Random(seed + 1)  # noqa: S311 - benchmark data
    today = timezone.localdate().isoformat()
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, current_mileage FROM customers_vehicle ORDER BY id")
        rows = [r for r in cursor.fetchall() if rng.random() < share]
    readings = [(vid, (km or 0) + rng.randint(100, 3_000), today, "visit", "") for vid, km in rows]
    with transaction.atomic():
        MileageReading.objects.bulk_create(
            [
                MileageReading(vehicle_id=v, km=k, read_on=d, source=s, note=n)
                for v, k, d, s, n in readings
            ],
            batch_size=2_000,
        )
        with connection.cursor() as cursor:
            cursor.executemany(
                "UPDATE customers_vehicle SET current_mileage = %s, mileage_read_on = %s "
                "WHERE id = %s",
                [(k, d, v) for v, k, d, _s, _n in readings],
            )
    return len(readings)


def child(args: argparse.Namespace) -> int:
    import django

    django.setup()
    from django.db import connection

    from autocrm.customers import maintenance
    from autocrm.customers.models import Vehicle

    result: dict = {"database": connection.vendor}
    print(f"[{connection.vendor}] loading {args.vehicles:,} vehicles …", flush=True)
    result["data"] = load(args.vehicles, args.stores, args.seed)
    print(f"[{connection.vendor}] {result['data']}", flush=True)
    runs = {}
    print(f"[{connection.vendor}] first full refresh …", flush=True)
    runs["first"] = timed_refresh()
    print(f"[{connection.vendor}] {runs['first']}", flush=True)
    runs["again"] = timed_refresh()
    updated = new_readings(0.01, args.seed)
    runs["after_1pct_new_readings"] = {**timed_refresh(), "new_readings": updated}
    rng = random.Random(args.seed + 2)  # noqa: S311
    ids = list(Vehicle.objects.values_list("pk", flat=True))
    sample = rng.sample(ids, min(10_000, len(ids)))
    runs["ids_10000"] = timed_refresh(sample)
    per_vehicle = []
    for pk in rng.sample(ids, min(200, len(ids))):
        t0 = time.perf_counter()
        maintenance.refresh_vehicle(pk)
        per_vehicle.append((time.perf_counter() - t0) * 1000)
    runs["refresh_vehicle_ms"] = {
        "n": len(per_vehicle),
        "p50": rounded(percentile(per_vehicle, 50), 2),
        "p95": rounded(percentile(per_vehicle, 95), 2),
    }
    result["runs"] = runs
    result["sources"] = _sources()
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


def _sources() -> list[tuple[str, int]]:
    from django.db.models import Count

    from autocrm.customers.models import Vehicle

    rows = Vehicle.objects.order_by().values_list("daily_km_source").annotate(n=Count("id"))
    return [(source or "none", n) for source, n in rows]


# --- parent: one child per database ----------------------------------------------------------


def run_one(db: str, args: argparse.Namespace, stamp: str, cleanup: list) -> dict:
    data_dir = BENCH_DIR / f"maint-{stamp}-{db}"
    data_dir.mkdir(parents=True, exist_ok=True)
    if not args.keep:
        cleanup.append(lambda: shutil.rmtree(data_dir, ignore_errors=True))
    env = bench_env(data_dir)
    env["DJANGO_SETTINGS_MODULE"] = "autocrm.settings"
    env.pop("DATABASE_URL", None)
    if db == "postgresql":
        pg = PgDatabase(args.pg_admin_url, f"autocrm_maint_{stamp.replace('-', '_')}")
        why = pg.reachable()
        if why:
            raise HarnessError(
                f"PostgreSQL not reachable at {redact_url(args.pg_admin_url)}: {why}"
            )
        pg.create()
        if not args.keep:
            cleanup.append(pg.drop)
        env["DATABASE_URL"] = pg.url
    out = data_dir / "result.json"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "--out",
        str(out),
        "--vehicles",
        str(args.vehicles),
        "--stores",
        str(args.stores),
        "--seed",
        str(args.seed),
    ]
    proc = subprocess.run(cmd, env=env, timeout=args.timeout, check=False)  # noqa: S603
    if proc.returncode != 0:
        raise HarnessError(f"the {db} run failed (exit {proc.returncode})")
    result = json.loads(out.read_text())
    if db == "sqlite":
        result["db_file_mb"] = round((data_dir / "autocrm.sqlite3").stat().st_size / 2**20)
    return result


def print_report(results: list[dict]) -> None:
    print()
    for r in results:
        d, runs = r["data"], r["runs"]
        print(
            f"{r['database']}: {d['vehicles']:,} vehicles, {d['readings']:,} readings, "
            f"{d['stores']} stores (load {d['load_s']} s); peak RSS {r['peak_rss_mb']} MB; "
            f"daily km from {dict(r['sources'])}"
        )
        for name in ("first", "again", "after_1pct_new_readings", "ids_10000"):
            run = runs[name]
            steps = ", ".join(f"{k} {v}" for k, v in run["steps"].items())
            print(
                f"  refresh {name:<24} {run['seconds']:>7} s  changed {run['changed']:>9,}  "
                f"({steps})"
            )
        pv = runs["refresh_vehicle_ms"]
        print(f"  refresh_vehicle (n={pv['n']})       p50 {pv['p50']} ms, p95 {pv['p95']} ms")
        worst = max(runs[n]["seconds"] for n in ("first", "again", "after_1pct_new_readings"))
        verdict = "PASS" if worst < TARGET_S else "MISS"
        print(f"  target: full refresh < {TARGET_S:.0f} s: slowest {worst} s {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=1_300_000)
    parser.add_argument("--stores", type=int, default=200)
    parser.add_argument("--db", default="sqlite,postgresql", help="sqlite, postgresql or both")
    parser.add_argument("--pg-admin-url", default=os.environ.get("AUTOCRM_BENCH_PG", DEFAULT_PG))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per database")
    parser.add_argument("--keep", action="store_true", help="keep databases and directories")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    stop_on_sigterm()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    cleanup: list = []
    results = []
    try:
        for db in [x.strip() for x in args.db.split(",") if x.strip()]:
            results.append(run_one(db, args, stamp, cleanup))
    except (HarnessError, KeyboardInterrupt) as exc:
        print(f"benchmark stopped: {exc}", file=sys.stderr)
        return 1
    finally:
        for step in reversed(cleanup):
            step()
    print_report(results)
    report = {"timestamp": stamp, "revision": git_revision(), "results": results}
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    (BENCH_DIR / f"maintenance-{stamp}.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
