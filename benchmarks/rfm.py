"""RFM scoring time over N customers, on SQLite and PostgreSQL.

For each database: a throw-away data directory under ``var/bench/`` (and, for PostgreSQL, a
throw-away database through ``--pg-admin-url``), ``autocrm migrate``, then a child process
that bulk-inserts ``--customers`` customers of one org (10 stores; visits, spend and last
visit spread like a real shop's: many one-visit customers, a long tail of regulars) and times
``reports.rfm.compute()`` — the one INSERT … SELECT with NTILE windows the worker runs nightly
— twice (the second replaces the first's rows). Target: ≤ 30 s for 1 000 000 customers.

    .venv/bin/python benchmarks/rfm.py [--customers 1000000] [--databases sqlite,postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import fresh_database, git_revision, rounded, stop_on_sigterm
from server import HarnessError, bench_env, redact_url, run_step

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/postgres"
TARGET_S = 30.0
STORES = 10
CHUNK = 20_000


def child(customers: int) -> dict:
    """Inside the migrated database: load the customers, time the scoring."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autocrm.settings")
    django.setup()
    import datetime

    from django.db import connection, transaction
    from django.utils import timezone

    from autocrm.core.models import Organization, Store
    from autocrm.customers.demo import CUSTOMER_COLUMNS, Writer
    from autocrm.customers.models import Customer
    from autocrm.reports import rfm
    from autocrm.reports.models import CustomerRFM

    rng = random.Random(7)
    org = Organization.objects.create(name="RFM 基准集团", code="rfm-bench")
    stores = [
        Store.objects.create(org=org, name=f"基准门店{i}", code=f"rb{i:02d}") for i in range(STORES)
    ]
    now = timezone.now()
    ts = connection.ops.adapt_datetimefield_value
    writer = Writer()
    first_id = writer.next_id(Customer)
    t0 = time.perf_counter()
    for lo in range(0, customers, CHUNK):
        rows = []
        for n in range(lo, min(customers, lo + CHUNK)):
            visits = int(rng.paretovariate(1.6)) if rng.random() < 0.85 else 0
            last = now - datetime.timedelta(
                days=rng.randint(0, 1500), seconds=rng.randint(0, 86399)
            )
            first = last - datetime.timedelta(days=rng.randint(0, 1500)) if visits > 1 else last
            spend = round(visits * rng.uniform(150, 1500), 2)
            mobile = f"139{n:08d}"
            stamp = ts(now)
            rows.append(
                (
                    first_id + n, org.pk, stores[n % STORES].pk, "person", f"客户{n}", f"kehu{n}",
                    "kh", mobile, mobile[-4:], "", "", None, "", None, None, "", "{}", "", "{}",
                    "", False, None, "", False, None, "", visits, str(spend),
                    ts(first) if visits else None, ts(last) if visits else None, None, None,
                    stamp, stamp,
                )
            )  # fmt: skip
        with transaction.atomic():
            writer.insert(Customer, CUSTOMER_COLUMNS, rows)
    writer.reset_sequences()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Customer._meta.db_table}")
    load_s = time.perf_counter() - t0
    runs = []
    for _i in range(2):
        t1 = time.perf_counter()
        scored = rfm.compute()
        runs.append(time.perf_counter() - t1)
    sizes = dict(
        CustomerRFM.objects.values_list("segment").annotate(n=django.db.models.Count("pk"))
    )
    return {"load_s": load_s, "runs_s": runs, "scored": scored, "segments": sizes}


def measure(db: str, customers: int, pg_admin: str, keep: bool) -> dict:
    data_dir = ROOT / "var" / "bench" / f"rfm-{db}-{os.getpid()}"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = bench_env(data_dir)
    pg = None
    try:
        pg, why = fresh_database(db, pg_admin, f"autocrm_rfm_{os.getpid()}", env)
        if why:
            return {"database": db, "skipped": why}
        run_step(["migrate"], env)
        proc = subprocess.run(
            [sys.executable, __file__, "--child", "--customers", str(customers)],
            env={**env, "PYTHONPATH": str(ROOT / "src")},
            capture_output=True,
            text=True,
            timeout=7200,
            check=False,
        )
        if proc.returncode != 0:
            raise HarnessError(f"child failed:\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["database"] = db if pg is None else f"postgres ({redact_url(pg.url)})"
        return result
    finally:
        if pg is not None and not keep:
            pg.drop()
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--pg-admin-url", default=os.environ.get("AUTOCRM_BENCH_PG", DEFAULT_PG))
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.customers)))
        return 0
    stop_on_sigterm()
    print(f"RFM scoring, {args.customers:,} customers, revision {git_revision()}")
    ok = True
    for db in [d.strip() for d in args.databases.split(",") if d.strip()]:
        r = measure(db, args.customers, args.pg_admin_url, args.keep)
        if "skipped" in r:
            print(f"  {db}: skipped ({r['skipped']})")
            continue
        best = min(r["runs_s"])
        ok &= best <= TARGET_S
        print(
            f"  {r['database']}: load {rounded(r['load_s'], 1)} s; scoring "
            f"{', '.join(str(rounded(s, 2)) for s in r['runs_s'])} s "
            f"({r['scored']:,} scored; target ≤ {TARGET_S:.0f} s: "
            f"{'met' if best <= TARGET_S else 'MISSED'})"
        )
        print(f"    segments: {json.dumps(r['segments'], ensure_ascii=False)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
