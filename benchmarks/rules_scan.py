"""Rules engine benchmark: the daily time scan with the built-in rules at 1.3 million vehicles,
on SQLite and PostgreSQL.

For each database (``--databases sqlite,postgres``):

1. a throw-away data directory under ``var/bench/`` (and, for PostgreSQL, a throw-away
   database ``autocrm_rules_<timestamp>`` made with psql through ``--pg-admin-url``);
   ``autocrm migrate``;
2. data, generated in a child process in chunks with ``executemany`` (SQLite) or ``COPY``
   (PostgreSQL) and ids given up front, like the demo loaders: the large demo's org (200
   stores and their staff), ``--vehicles`` vehicles (1.3 per customer) with insurance,
   inspection, registration, last-service and predicted service dates spread over the year,
   customers with birthdays, levels, consent and last visits, and one settled work order with
   a line for every tenth customer (installations in the audio shops). Timed, not counted;
3. the built-in rules switched on (``automation.builtin``) as if yesterday's scan had run at
   the same time (``last_run_at`` = now − 1 day), so the window is one day of moments, and
   ``ANALYZE`` (what autovacuum / a maintenance job does on a real base);
4. ``autocrm rules run --now <today 09:15>``: the daily scan, timed with its peak RSS
   (``common.run_measured``), and its summary line;
5. the same command again for the same moment (a rerun, or a second worker): it must fire
   nothing (it reads the same candidates and finds every firing there);
6. the cost an event rule adds to a request: ``update_customer`` timed 300 times with the
   VIP rule waiting for customer updates, and 300 times with no rule waiting.

Targets: each daily scan ≤ 60 s; peak RSS flat (the scan reads and fires in chunks; compare
with the second run, which reads the same candidates and fires nothing); the second run fires
nothing; the capture adds ≤ 5 ms to a request. Everything is removed afterwards unless
``--keep``. Use ``--vehicles`` for a smaller (or larger) base."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import re
import shutil
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import procinfo
from common import fresh_database, git_revision, run_measured, stop_on_sigterm
from server import HarnessError, autocrm_command, bench_env, redact_url, run_step

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/postgres"
TARGET_SCAN_S = 60.0
TARGET_CAPTURE_MS = 5.0
CHUNK = 5000
SUMMARY = re.compile(r"rules: (\d+), fired: (\d+), messages: (\d+), tasks: (\d+)")


# --- child: data generation ---------------------------------------------------------------


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autocrm.settings")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


class Rows:
    """Rows of one model as tuples in column order: every column gets its default (prepared
    for the database once), the caller gives the rest already prepared."""

    def __init__(self, model):
        from django.db import connection

        self.model = model
        self.fields = [f for f in model._meta.concrete_fields]
        self.columns = [f.column for f in self.fields]
        self.defaults = {}
        for f in self.fields:
            value = f.get_default()  # "" for text columns without one, like the ORM
            if f.get_internal_type() == "JSONField":
                value = json.dumps(value if value is not None else {})
            elif value is not None:
                value = f.get_db_prep_save(value, connection)
            self.defaults[f.attname] = value

    def row(self, **values) -> tuple:
        return tuple(values.get(f.attname, self.defaults[f.attname]) for f in self.fields)


def generate(vehicles_wanted: int, seed: int = 20261201) -> dict:
    """The large demo's org and staff, then customers, vehicles and work orders in chunks."""
    from django.db import connection, transaction
    from django.utils import timezone

    from autocrm.core import demo
    from autocrm.core.models import Organization, Store
    from autocrm.customers.demo import INSURERS, LEVELS, MODELS, WMIS, Writer, demo_plate
    from autocrm.customers.models import Customer, Vehicle
    from autocrm.service.models import WorkOrder, WorkOrderLine

    started = time.perf_counter()
    demo.load_demo("large", extend=False)
    org = Organization.objects.get(code=demo.ORG_CODE)
    stores = list(Store.objects.filter(org=org).order_by("pk"))
    rng = random.Random(seed)  # noqa: S311 - benchmark data
    sqlite = connection.vendor == "sqlite"
    now = timezone.now()
    today = timezone.localdate()
    day = datetime.timedelta(days=1)

    def d(value: datetime.date):
        return value.isoformat() if sqlite else value

    def ts(value: datetime.datetime):
        return connection.ops.adapt_datetimefield_value(value)

    def money(value: Decimal):
        return str(value) if sqlite else value

    writer = Writer()
    first = {m: writer.next_id(m) for m in (Customer, Vehicle, WorkOrder, WorkOrderLine)}
    rows = {m: Rows(m) for m in first}
    customers_wanted = int(vehicles_wanted / 1.3)
    stamp = ts(now)
    vehicle_n = order_n = 0
    with transaction.atomic():
        for start in range(0, customers_wanted, CHUNK):
            batch = {m: [] for m in first}
            for n in range(start, min(start + CHUNK, customers_wanted)):
                cid = first[Customer] + n
                store = stores[n % len(stores)]
                visited = rng.random() < 0.8
                last_visit = (
                    now - datetime.timedelta(days=rng.randint(0, 1095)) if visited else None
                )
                consent = rng.random() < 0.6
                batch[Customer].append(
                    rows[Customer].row(
                        id=cid,
                        org_id=org.pk,
                        home_store_id=store.pk,
                        name=f"客户{n:07d}",
                        mobile=f"13{n:09d}",
                        mobile_tail=f"{n:09d}"[-4:],
                        birthday=d(
                            datetime.date(
                                rng.randint(1960, 2003), rng.randint(1, 12), rng.randint(1, 28)
                            )
                        )
                        if rng.random() < 0.9
                        else None,
                        level=rng.choice(LEVELS),
                        consent_sms=consent,
                        consent_sms_at=stamp if consent else None,
                        visit_count=rng.randint(1, 8) if visited else 0,
                        lifetime_spend=money(Decimal(rng.randint(0, 30000))),
                        first_visit_at=ts(last_visit - datetime.timedelta(days=400))
                        if visited
                        else None,
                        last_visit_at=ts(last_visit) if visited else None,
                        created_at=stamp,
                        updated_at=stamp,
                    )
                )
                first_vehicle = None
                for _v in range(2 if rng.random() < 0.3 else 1):
                    if vehicle_n >= vehicles_wanted:
                        break
                    vid = first[Vehicle] + vehicle_n
                    first_vehicle = first_vehicle or vid
                    wmi = rng.choices(WMIS)[0]
                    brand, models = MODELS[wmi]
                    registered = today - datetime.timedelta(days=rng.randint(30, 4000))
                    serviced = rng.random() < 0.7
                    last_service = today - datetime.timedelta(days=rng.randint(0, 730))
                    predicted = serviced and rng.random() < 0.7
                    batch[Vehicle].append(
                        rows[Vehicle].row(
                            id=vid,
                            org_id=org.pk,
                            home_store_id=store.pk,
                            owner_id=cid,
                            plate=demo_plate(vehicle_n, "京", False)
                            if vehicle_n < 2_400_000
                            else f"测{vehicle_n}",
                            brand=brand,
                            model=rng.choice(models),
                            fuel=rng.choice(("petrol", "petrol", "hybrid", "electric")),
                            insurer=rng.choice(INSURERS),
                            registered_on=d(registered),
                            purchased_on=d(registered),
                            insurance_expires_on=d(today + rng.randint(-30, 365) * day),
                            inspection_due_on=d(today + rng.randint(0, 365) * day),
                            last_service_on=d(last_service) if serviced else None,
                            service_due_on=d(today + rng.randint(-10, 180) * day)
                            if predicted
                            else None,
                            current_mileage=rng.randint(1000, 200000),
                            created_at=stamp,
                            updated_at=stamp,
                        )
                    )
                    vehicle_n += 1
                if first_vehicle and rng.random() < 0.1:
                    woid = first[WorkOrder] + order_n
                    settled = now - datetime.timedelta(
                        days=rng.randint(0, 1460), hours=rng.randint(0, 23)
                    )
                    total = Decimal(rng.choice((380, 980, 2600, 6800)))
                    batch[WorkOrder].append(
                        rows[WorkOrder].row(
                            id=woid,
                            org_id=org.pk,
                            store_id=store.pk,
                            number=f"B{order_n:08d}",
                            customer_id=cid,
                            vehicle_id=first_vehicle,
                            status="settled",
                            opened_at=ts(settled - datetime.timedelta(hours=3)),
                            settled_at=ts(settled),
                            total=money(total),
                            paid=money(total),
                            labour_total=money(total),
                            created_at=stamp,
                            updated_at=stamp,
                        )
                    )
                    batch[WorkOrderLine].append(
                        rows[WorkOrderLine].row(
                            id=first[WorkOrderLine] + order_n,
                            work_order_id=woid,
                            kind="labour",
                            name="功放安装" if store.kind == "audio" else "小保养",
                            unit_price=money(total),
                            amount=money(total),
                            approval="approved",
                            created_at=stamp,
                        )
                    )
                    order_n += 1
            for model in (Customer, Vehicle, WorkOrder, WorkOrderLine):
                writer.insert(model, rows[model].columns, batch[model])
        writer.reset_sequences()
    return {
        "customers": writer.counts.get(Customer, 0),
        "vehicles": writer.counts.get(Vehicle, 0),
        "work_orders": writer.counts.get(WorkOrder, 0),
        "seconds": round(time.perf_counter() - started, 1),
    }


def prepare() -> dict:
    """Built-in rules on, as if yesterday's scan ran at 09:15; ANALYZE."""
    from django.db import connection
    from django.utils import timezone

    from autocrm.automation import builtin
    from autocrm.automation.models import Rule
    from autocrm.core.models import Organization

    org = Organization.objects.get(code="antu")
    switched = builtin.switch_on_builtin(org)
    # Yesterday's scan ran at 10:15 (after its 09:00 moments): today's window holds one day.
    yesterday = scan_time(10, 15) - datetime.timedelta(days=1)
    Rule.objects.filter(org=org, kind="time").update(last_run_at=yesterday)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "rules_on": switched,
        "time_rules": Rule.objects.filter(org=org, kind="time").count(),
        "analyze_s": round(time.perf_counter() - started, 1),
        "today": timezone.localdate().isoformat(),
    }


def scan_time(hour: int = 9, minute: int = 15) -> datetime.datetime:
    from django.utils import timezone

    return timezone.make_aware(
        datetime.datetime.combine(timezone.localdate(), datetime.time(hour, minute))
    )


def capture_cost(rounds: int = 300) -> dict:
    """Milliseconds per ``update_customer`` with an event rule waiting and with none."""
    from django.db import transaction

    from autocrm.automation import capture
    from autocrm.automation.models import Rule
    from autocrm.core.models import User
    from autocrm.customers import services
    from autocrm.customers.models import Customer

    actor = User.objects.get(username="hq")
    customers = list(Customer.objects.filter(org_id=actor.org_id).order_by("pk")[: rounds * 2])
    vip = Rule.objects.get(builtin="vip_upgrade")

    def timed(batch, waiting: bool) -> float:
        Rule.objects.filter(pk=vip.pk).update(state="active" if waiting else "off")
        capture.invalidate()
        capture.interested("customer.updated", actor.org_id)  # load outside the timing
        started = time.perf_counter()
        for i, customer in enumerate(batch):
            with transaction.atomic():
                services.update_customer(actor, customer, notes=f"基准测试 {i}")
        return (time.perf_counter() - started) * 1000 / len(batch)

    try:
        without = timed(customers[:rounds], waiting=False)
        with_rule = timed(customers[rounds:], waiting=True)  # each queues a job for the worker
    finally:
        Rule.objects.filter(pk=vip.pk).update(state="active")
    return {
        "rounds": rounds,
        "ms_without_rule": round(without, 3),
        "ms_with_rule": round(with_rule, 3),
        "added_ms": round(with_rule - without, 3),
    }


def child(argv: list[str]) -> int:
    _setup()
    step, out = argv[0], Path(argv[1])
    if step == "generate":
        result = generate(int(argv[2]))
    elif step == "prepare":
        result = prepare()
    elif step == "capture":
        result = capture_cost()
    else:
        raise SystemExit(f"unknown step {step}")
    out.write_text(json.dumps(result))
    return 0


# --- parent -------------------------------------------------------------------------------


def measured_child(step: str, env: dict, work: Path, *extra: str) -> tuple[dict, dict]:
    out = work / f"{step}.json"
    run = run_measured(
        [sys.executable, __file__, "--child", step, str(out), *extra], env, work / f"{step}.log"
    )
    if run.returncode != 0:
        raise HarnessError(f"{step} failed (exit {run.returncode}):\n{run.output[-3000:]}")
    return json.loads(out.read_text()), {
        "wall_s": round(run.seconds, 1),
        "peak_rss_mb": round(run.peak_rss_mb, 1),
    }


class MemorySampler(threading.Thread):
    """Highest anonymous (heap) and file-backed resident memory of this process's children,
    read from /proc every 50 ms: SQLite's memory-mapped database pages count in the RSS that
    wait4 reports, and grow with the file; the heap is what must stay flat."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.anon_kb = self.file_kb = 0

    @staticmethod
    def _status(pid: int) -> dict[str, int]:
        try:
            text = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return {}
        out = {}
        for line in text.splitlines():
            name, _, rest = line.partition(":")
            if name in ("RssAnon", "RssFile"):
                out[name] = int(rest.split()[0])
        return out

    def run(self) -> None:
        while not self.stop.wait(0.05):
            for pid in procinfo.descendants(os.getpid()):
                status = self._status(pid)
                self.anon_kb = max(self.anon_kb, status.get("RssAnon", 0))
                self.file_kb = max(self.file_kb, status.get("RssFile", 0))


def scan(env: dict, work: Path, label: str, now: str) -> dict:
    sampler = MemorySampler()
    sampler.start()
    try:
        run = run_measured(
            [*autocrm_command(), "rules", "run", "--now", now], env, work / f"scan-{label}.log"
        )
    finally:
        sampler.stop.set()
        sampler.join()
    if run.returncode != 0:
        raise HarnessError(f"rules run failed (exit {run.returncode}):\n{run.output[-3000:]}")
    line = run.output.strip().splitlines()[-1] if run.output.strip() else ""
    match = SUMMARY.fullmatch(line)
    if not match:
        raise HarnessError(f"no summary line from rules run: {run.output[-1000:]}")
    rules, fired, messages, tasks = (int(x) for x in match.groups())
    return {
        "now": now,
        "summary": line,
        "rules": rules,
        "fired": fired,
        "messages": messages,
        "tasks": tasks,
        "wall_s": round(run.seconds, 2),
        "cpu_s": round(run.cpu_s, 2),
        "peak_rss_mb": round(run.peak_rss_mb, 1),
        "peak_anon_mb": round(sampler.anon_kb / 1024, 1),
        "peak_file_mb": round(sampler.file_kb / 1024, 1),
    }


def bench_one(database: str, args, stamp: str) -> dict:
    work = ROOT / "var" / "bench" / f"rules-{database}-{stamp}"
    work.mkdir(parents=True)
    env = bench_env(work / "var")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    pg = None
    result: dict = {"database": database}
    try:
        name = f"autocrm_rules_{stamp.replace('-', '_')}"
        pg, why = fresh_database(database, args.pg_admin_url, name, env)
        if why:
            return {"database": database, "skipped": why}
        if pg is not None:
            result["url"] = redact_url(pg.url)
        run_step(["migrate"], env, timeout=900)
        result["data"], result["generate"] = measured_child(
            "generate", env, work, str(args.vehicles)
        )
        result["prepare"], _ = measured_child("prepare", env, work)
        today = result["prepare"]["today"]
        result["first"] = scan(env, work, "first", f"{today}T09:15")
        # The same moment again (a rerun, a second worker): nothing new may fire. (A later
        # run the same day fires only moments that fall after 09:15, e.g. "24 hours after
        # settlement" for yesterday's later settlements.)
        result["second"] = scan(env, work, "second", f"{today}T09:15")
        result["capture"], _ = measured_child("capture", env, work)
    finally:
        if pg is not None and not args.keep:
            pg.drop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    first, second = result["first"], result["second"]
    result["targets"] = {
        "scan_s": first["wall_s"] <= TARGET_SCAN_S and second["wall_s"] <= TARGET_SCAN_S,
        "second_run_fires_nothing": second["fired"] == 0,
        "capture_ms": result["capture"]["added_ms"] <= TARGET_CAPTURE_MS,
    }
    return result


def report(results: list[dict], args) -> None:
    print(f"\nrules scan benchmark — {git_revision()} — {args.vehicles:,} vehicles asked")
    for r in results:
        if "skipped" in r:
            print(f"\n{r['database']}: skipped ({r['skipped']})")
            continue
        data, gen = r["data"], r["generate"]
        print(
            f"\n{r['database']}: {data['customers']:,} customers, {data['vehicles']:,} vehicles, "
            f"{data['work_orders']:,} work orders generated in {gen['wall_s']} s; "
            f"{r['prepare']['time_rules']} time rules on; ANALYZE {r['prepare']['analyze_s']} s"
        )
        print(
            f"  {'run':<8}{'now':<18}{'wall s':>8}{'cpu s':>8}{'peak MB':>9}{'heap MB':>9}"
            f"{'file MB':>9}  summary"
        )
        for key in ("first", "second"):
            s = r[key]
            print(
                f"  {key:<8}{s['now']:<18}{s['wall_s']:>8}{s['cpu_s']:>8}"
                f"{s['peak_rss_mb']:>9}{s['peak_anon_mb']:>9}{s['peak_file_mb']:>9}  {s['summary']}"
            )
        c = r["capture"]
        print(
            f"  request cost (update_customer): {c['ms_without_rule']} ms without a rule, "
            f"{c['ms_with_rule']} ms with the VIP rule waiting (+{c['added_ms']} ms)"
        )
        for name, ok in r["targets"].items():
            print(f"  {'PASS' if ok else 'MISS'} {name}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        return child(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=1_300_000, help="vehicles to generate")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--pg-admin-url", default=os.environ.get("BENCH_PG_ADMIN_URL", DEFAULT_PG))
    parser.add_argument("--keep", action="store_true", help="keep data directories and databases")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    stop_on_sigterm()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results = []
    try:
        for database in [d.strip() for d in args.databases.split(",") if d.strip()]:
            results.append(bench_one(database, args, stamp))
    except HarnessError as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return 2
    out = ROOT / "var" / "bench" / f"rules-{stamp}.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    report(results, args)
    missed = any(not all(r.get("targets", {}).values()) for r in results if "targets" in r)
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
