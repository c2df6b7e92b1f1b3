"""In-process half of the customer-archive benchmark (started by benchmarks/archive.py).

Runs inside one Django process against an already loaded database (AUTOCRM_VAR and, for
PostgreSQL, DATABASE_URL come from the environment) and writes its findings as JSON:

- search: ``selectors.search(user, q)`` timed with perf_counter for each kind of query, and
  the same lookup as a hand-written SQL query on the raw DB-API cursor, interleaved;
- the query plan (EXPLAIN QUERY PLAN / EXPLAIN ANALYZE) of the app's and the hand-written
  SQL for a slow sample of each kind;
- SQL queries per ``selectors.profile()`` call (and per page / API call) for a short and a
  long history, and the customers with the most visits for the page benchmark;
- with ``--analyze``: runs ANALYZE first and reports how long it took.

Usage: python benchmarks/archive_inproc.py --out FILE [--analyze] [--queries 200] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from common import percentile, rounded

USERS = ("manager1", "hq")
PASSWORD = "demo1234"
KINDS = ("plate_tail5", "plate_mid3", "mobile_tail4", "initials", "mobile_full", "plate_exact")
KIND_HELP = {
    "plate_tail5": "last 5 characters of a plate",
    "plate_mid3": "3 characters from the middle of a plate (plate[2:5])",
    "mobile_tail4": "last 4 digits of a mobile",
    "initials": "2-3 pinyin initials of a person's name",
    "mobile_full": "a full 11-digit mobile",
    "plate_exact": "a whole plate with its province",
}
LIMIT = 10
HIGHEST = "\U0010ffff"
PAGE_CUSTOMERS = 100


@dataclass
class Sample:
    """One search input and the row it was made from (to check that it is found)."""

    q: str
    customer_id: int | None
    vehicle_id: int | None


@dataclass
class KindResult:
    """Timings of one kind of query for one user."""

    user: str
    kind: str
    app_ms: list[float] = field(default_factory=list)
    sql_ms: list[float] = field(default_factory=list)
    app_hits: int = 0
    sql_rows: int = 0
    app_found: int = 0
    sql_found: int = 0
    truncated: bool = False

    def summary(self) -> dict[str, Any]:
        n = len(self.app_ms)
        app50, app95 = percentile(self.app_ms, 50), percentile(self.app_ms, 95)
        sql50, sql95 = percentile(self.sql_ms, 50), percentile(self.sql_ms, 95)
        return {
            "user": self.user,
            "kind": self.kind,
            "n": n,
            "app_p50_ms": rounded(app50, 3),
            "app_p95_ms": rounded(app95, 3),
            "app_max_ms": rounded(max(self.app_ms) if self.app_ms else None, 3),
            "sql_p50_ms": rounded(sql50, 3),
            "sql_p95_ms": rounded(sql95, 3),
            "ratio_p50": rounded(app50 / sql50, 3) if app50 and sql50 else None,
            "ratio_p95": rounded(app95 / sql95, 3) if app95 and sql95 else None,
            "app_avg_hits": round(self.app_hits / n, 2) if n else None,
            "sql_avg_rows": round(self.sql_rows / n, 2) if n else None,
            "app_found_pct": round(100 * self.app_found / n) if n else None,
            "sql_found_pct": round(100 * self.sql_found / n) if n else None,
            "truncated": self.truncated,
        }


class Bench:
    """State shared by the measurements: the Django connection, users and the raw cursor."""

    def __init__(self, args: argparse.Namespace) -> None:
        from django.db import connection

        from autocrm.core.models import User
        from autocrm.core.scoping import is_org_wide, store_ids

        self.args = args
        self.connection = connection
        self.vendor = connection.vendor
        self.users = {name: User.objects.get(username=name) for name in USERS}
        self.org_id = self.users["hq"].org_id
        self.scope: dict[str, list[int] | None] = {
            name: None if is_org_wide(u) else sorted(store_ids(u)) for name, u in self.users.items()
        }
        connection.ensure_connection()
        self.raw = connection.connection.cursor()

    # --- hand-written SQL ---------------------------------------------------------------

    def _sql(self, text: str) -> str:
        return text.replace("%s", "?") if self.vendor == "sqlite" else text

    def _prefix(self, column: str, value: str) -> tuple[str, list[str]]:
        """The same prefix test the app uses: a range on SQLite, LIKE on PostgreSQL."""
        if self.vendor == "sqlite":
            return f"{column} >= %s AND {column} < %s", [value, value + HIGHEST]
        escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"{column} LIKE %s", [escaped + "%"]

    def _stores(self, user: str, column: str) -> str:
        ids = self.scope[user]
        if ids is None:
            return ""
        return f" AND {column} IN ({', '.join(str(int(i)) for i in ids) or 'NULL'})"

    def bare_sql(self, user: str, kind: str, q: str) -> tuple[str, list[Any]]:
        """Hand-written SQL for the lookup behind ``kind``, scoped like the app, LIMIT 10."""
        vehicle_cols = "v.id, v.plate, c.id, c.name, c.mobile"
        customer_cols = "c.id, c.name, c.mobile"
        if kind in ("plate_tail5", "plate_mid3"):
            cond, params = self._prefix("k.key", q.upper())
            # A store's keys through their own copy of the home store (index home_store, key).
            scope = (
                f"k.home_store_id IN ({', '.join(str(int(i)) for i in self.scope[user]) or 'NULL'})"
                " AND v.org_id = %s"
                if self.scope[user] is not None
                else "k.org_id = %s"
            )
            return (
                f"SELECT {vehicle_cols} FROM customers_platekey k "
                "JOIN customers_vehicle v ON v.id = k.vehicle_id "
                "LEFT JOIN customers_customer c ON c.id = v.owner_id "
                f"WHERE {cond} AND {scope} LIMIT {LIMIT}",
                [*params, self.org_id],
            )
        if kind == "plate_exact":
            # The terms of the partial unique index, so SQLite may use it.
            return (
                f"SELECT {vehicle_cols} FROM customers_vehicle v "
                "LEFT JOIN customers_customer c ON c.id = v.owner_id "
                "WHERE v.org_id = %s AND v.plate = %s AND NOT (v.plate = '') AND v.plate_active"
                f"{self._stores(user, 'v.home_store_id')} LIMIT {LIMIT}",
                [self.org_id, q],
            )
        if kind == "mobile_full":
            return (
                f"SELECT {customer_cols} FROM customers_customer c "
                "WHERE c.org_id = %s AND c.mobile = %s AND NOT (c.mobile = '') "
                f"AND c.merged_into_id IS NULL{self._stores(user, 'c.home_store_id')} "
                f"LIMIT {LIMIT}",
                [self.org_id, q],
            )
        if kind == "mobile_tail4":
            return (
                f"SELECT {customer_cols} FROM customers_customer c "
                "WHERE c.org_id = %s AND c.mobile_tail = %s AND c.merged_into_id IS NULL"
                f"{self._stores(user, 'c.home_store_id')} ORDER BY c.id DESC LIMIT {LIMIT}",
                [self.org_id, q],
            )
        if kind == "initials":
            cond, params = self._prefix("c.name_initials", q.lower())
            return (
                f"SELECT {customer_cols} FROM customers_customer c "
                f"WHERE c.org_id = %s AND {cond} AND c.merged_into_id IS NULL"
                f"{self._stores(user, 'c.home_store_id')} ORDER BY c.name_initials "
                f"LIMIT {LIMIT}",
                [self.org_id, *params],
            )
        raise ValueError(kind)

    def run_bare(self, sql: str, params: list[Any]) -> list[tuple]:
        self.raw.execute(self._sql(sql), params)
        return self.raw.fetchall()

    # --- plans --------------------------------------------------------------------------

    def explain(self, sql: str, params: list[Any] | None = None) -> list[str]:
        """The plan of ``sql``: EXPLAIN QUERY PLAN (SQLite) or EXPLAIN ANALYZE (PostgreSQL)."""
        with self.connection.cursor() as cursor:
            if self.vendor == "sqlite":
                cursor.execute("EXPLAIN QUERY PLAN " + sql, params or None)
                rows = cursor.fetchall()
                depth: dict[int, int] = {0: -1}
                lines = []
                for node, parent, _unused, detail in rows:
                    depth[node] = depth.get(parent, -1) + 1
                    lines.append("  " * depth[node] + detail)
                return lines
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params or None)
            return [row[0] for row in cursor.fetchall()]

    def explain_bare(self, sql: str, params: list[Any]) -> list[str]:
        if self.vendor == "sqlite":
            return self.explain(sql, params)
        return self.explain(self.connection.ops.compose_sql(sql, params))


# --- samples ------------------------------------------------------------------------------


def pick_samples(bench: Bench, user: str, n: int, rng: random.Random) -> dict[str, list[Sample]]:
    """``n`` search inputs per kind, made from random rows the user may see."""
    from autocrm.customers.models import Customer, Vehicle

    stores = bench.scope[user]
    vehicles = Vehicle.objects.filter(
        org_id=bench.org_id, plate_active=True, owner__isnull=False
    ).exclude(plate="")
    customers = Customer.objects.filter(org_id=bench.org_id, merged_into__isnull=True)
    if stores is not None:
        vehicles = vehicles.filter(home_store_id__in=stores)
        customers = customers.filter(home_store_id__in=stores)

    def random_rows(qs, count: int, fields: tuple[str, ...]) -> list[tuple]:
        if stores is not None:
            ids = list(qs.values_list("pk", flat=True))
            chosen = rng.sample(ids, min(count, len(ids)))
        else:
            bounds = qs.order_by("pk").values_list("pk", flat=True)
            low, high = bounds.first(), bounds.last()
            chosen = [rng.randint(low, high) for _ in range(count * 2)]
        rows = {r[0]: r for r in qs.filter(pk__in=chosen).values_list("pk", *fields)}
        ordered = [rows[i] for i in dict.fromkeys(chosen) if i in rows]
        return ordered[:count]

    need = n * 3  # three plate kinds and three customer kinds take disjoint rows
    cars = random_rows(vehicles, need, ("plate", "owner_id"))
    people = random_rows(
        customers.filter(kind=Customer.Kind.PERSON), need, ("mobile", "name_initials")
    )
    samples: dict[str, list[Sample]] = {k: [] for k in KINDS}
    for i, (vid, plate, owner) in enumerate(cars):
        kind = ("plate_tail5", "plate_mid3", "plate_exact")[i % 3]
        q = {"plate_tail5": plate[-5:], "plate_mid3": plate[2:5], "plate_exact": plate}[kind]
        samples[kind].append(Sample(q, owner, vid))
    for i, (cid, mobile, initials) in enumerate(people):
        kind = ("mobile_tail4", "initials", "mobile_full")[i % 3]
        if kind == "initials":
            if len(initials) < 2:
                continue
            q = initials[: min(len(initials), rng.choice((2, 3)))]
        else:
            q = mobile[-4:] if kind == "mobile_tail4" else mobile
        if q:
            samples[kind].append(Sample(q, cid, None))
    return {k: v[:n] for k, v in samples.items()}


# --- search -------------------------------------------------------------------------------


def _found(sample: Sample, vehicle_ids: set[int], customer_ids: set[int]) -> bool:
    if sample.vehicle_id is not None:
        return sample.vehicle_id in vehicle_ids
    return sample.customer_id in customer_ids


def measure_kind(
    bench: Bench, user: str, kind: str, samples: list[Sample], budget: float
) -> tuple[KindResult, dict[str, Any]]:
    """Time app and hand-written SQL for each sample (interleaved, alternating which goes
    first), then capture the queries and plans of the sample at the app's p95."""
    from django.test.utils import CaptureQueriesContext

    from autocrm.customers.selectors import search

    account = bench.users[user]
    result = KindResult(user, kind)
    clock = time.perf_counter
    for sample in samples[: min(10, len(samples))]:  # warm-up, not recorded
        search(account, sample.q)
        bench.run_bare(*bench.bare_sql(user, kind, sample.q))
    deadline = clock() + budget
    timed: list[tuple[float, Sample]] = []
    for i, sample in enumerate(samples):
        if clock() > deadline:
            result.truncated = True
            break
        sql, params = bench.bare_sql(user, kind, sample.q)

        def app(sample: Sample = sample) -> list:
            return search(account, sample.q)

        def bare(sql: str = sql, params: list = params) -> list[tuple]:
            return bench.run_bare(sql, params)

        order: list[Callable[[], list]] = [app, bare] if i % 2 == 0 else [bare, app]
        outputs: dict[Callable, tuple[float, list]] = {}
        for fn in order:
            t0 = clock()
            out = fn()
            outputs[fn] = ((clock() - t0) * 1000, out)
        app_ms, hits = outputs[app]
        sql_ms, rows = outputs[bare]
        result.app_ms.append(app_ms)
        result.sql_ms.append(sql_ms)
        timed.append((app_ms, sample))
        result.app_hits += len(hits)
        result.sql_rows += len(rows)
        result.app_found += _found(
            sample,
            {h.vehicle.pk for h in hits if h.vehicle},
            {h.customer.pk for h in hits if h.customer},
        )
        if kind.startswith("plate"):
            result.sql_found += _found(sample, {r[0] for r in rows}, {r[2] for r in rows})
        else:
            result.sql_found += _found(sample, set(), {r[0] for r in rows})
    detail: dict[str, Any] = {}
    if timed:
        timed.sort(key=lambda item: item[0])
        slow = timed[max(1, math.ceil(0.95 * len(timed))) - 1][1]
        with CaptureQueriesContext(bench.connection) as captured:
            t0 = clock()
            search(account, slow.q)
            again_ms = (clock() - t0) * 1000
        queries = [q["sql"] for q in captured.captured_queries]
        sql, params = bench.bare_sql(user, kind, slow.q)
        detail = {
            "q": slow.q,
            "app_ms_rerun": round(again_ms, 3),
            "queries": len(queries),
            "app_sql": [{"sql": q, "plan": _safe(lambda q=q: bench.explain(q))} for q in queries],
            "bare_sql": bench._sql(sql),
            "bare_params": params,
            "bare_plan": _safe(lambda: bench.explain_bare(sql, params)),
        }
    return result, detail


def _safe(fn: Callable[[], list[str]]) -> list[str]:
    try:
        return fn()
    except Exception as exc:  # a plan is diagnostic only; never fail the run for it
        return [f"(EXPLAIN failed: {type(exc).__name__}: {exc})"]


def measure_search(bench: Bench) -> tuple[list[dict], dict[str, Any], dict[str, list[str]]]:
    rows: list[dict] = []
    details: dict[str, Any] = {}
    examples: dict[str, list[str]] = {}
    for user in USERS:
        samples = pick_samples(bench, user, bench.args.queries, random.Random(bench.args.seed))
        for kind in KINDS:
            print(f"    search {user:<8} {kind:<13} ({len(samples[kind])} queries) …", flush=True)
            result, detail = measure_kind(bench, user, kind, samples[kind], bench.args.budget)
            summary = result.summary()
            summary["queries_per_call"] = detail.get("queries")
            summary["example"] = samples[kind][0].q if samples[kind] else ""
            rows.append(summary)
            details[f"{user}/{kind}"] = detail
            examples[f"{user}/{kind}"] = [s.q for s in samples[kind][:5]]
    return rows, details, examples


# --- 360° profile -------------------------------------------------------------------------


def profile_queries(bench: Bench) -> dict[str, Any]:
    """SQL queries per profile() call, page and API call, for a short and a long history."""
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import Resolver404, resolve

    from autocrm.customers import selectors
    from autocrm.customers.models import Customer

    user = bench.users["manager1"]
    visible = selectors.visible_customers(user).annotate(n_vehicles=Count("vehicles"))
    short = visible.filter(visit_count=0, n_vehicles=1).order_by("id").first()
    long = visible.order_by("-visit_count", "-n_vehicles", "id").first()
    try:
        resolve("/customers/1/")
        page_available = True
    except Resolver404:
        page_available = False
    page = Client(HTTP_HOST="127.0.0.1", raise_request_exception=False)
    page.force_login(user)
    api = Client(HTTP_HOST="127.0.0.1", raise_request_exception=False)
    token = api.post(
        "/api/v1/auth/token",
        json.dumps({"username": "manager1", "password": PASSWORD, "name": "bench"}),
        content_type="application/json",
    ).json()["token"]
    out: dict[str, Any] = {"page_view_available": page_available, "cases": []}
    for label, customer in (("short", short), ("long", long)):
        if customer is None:
            continue
        case: dict[str, Any] = {
            "history": label,
            "customer_id": customer.pk,
            "visit_count": customer.visit_count,
            "vehicles": customer.n_vehicles,
            "interactions": customer.interactions.count(),
        }
        calls: list[tuple[str, Callable[[], Any]]] = [
            ("profile()", lambda c=customer: selectors.profile(user, c.pk)),
            (
                "GET api profile",
                lambda c=customer: api.get(
                    f"/api/v1/customers/{c.pk}/profile", HTTP_AUTHORIZATION=f"Bearer {token}"
                ),
            ),
        ]
        if page_available:
            calls.append(("GET page", lambda c=customer: page.get(f"/customers/{c.pk}/")))
        for name, call in calls:
            call()  # warm caches (templates, translations, URL resolver)
            with CaptureQueriesContext(bench.connection) as captured:
                response = call()
            status = getattr(response, "status_code", None)
            case[name] = {
                "queries": len(captured.captured_queries),
                "status": status,
                "sql": [q["sql"][:300] for q in captured.captured_queries],
            }
        out["cases"].append(case)
    # The customers with the longest histories, for the page benchmark.
    top: dict[str, list[dict]] = {}
    for name in USERS:
        qs = selectors.visible_customers(bench.users[name]).order_by(
            "-visit_count", "-last_visit_at", "id"
        )
        top[name] = [
            {"id": c.pk, "name": c.name, "visit_count": c.visit_count}
            for c in qs.only("id", "name", "visit_count")[:PAGE_CUSTOMERS]
        ]
    out["top_customers"] = top
    out["max_visit_count"] = Customer.objects.order_by("-visit_count").values_list(
        "visit_count", flat=True
    )[0]
    return out


# --- database facts -----------------------------------------------------------------------


def database_facts(bench: Bench) -> dict[str, Any]:
    """Row counts, size, and whether the planner has statistics."""
    tables = [
        "customers_customer",
        "customers_vehicle",
        "customers_platekey",
        "customers_interaction",
        "customers_mileagereading",
        "customers_ownership",
    ]
    facts: dict[str, Any] = {"vendor": bench.vendor, "rows": {}}
    with bench.connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 - fixed names
            facts["rows"][table] = cursor.fetchone()[0]
        if bench.vendor == "sqlite":
            cursor.execute("PRAGMA page_count")
            pages = cursor.fetchone()[0]
            cursor.execute("PRAGMA page_size")
            facts["size_mb"] = round(pages * cursor.fetchone()[0] / 2**20, 1)
            cursor.execute(
                "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'sqlite_stat%' AND type='table'"
            )
            has_stat = cursor.fetchone()[0] > 0
            stat_rows = 0
            if has_stat:
                cursor.execute("SELECT COUNT(*) FROM sqlite_stat1")
                stat_rows = cursor.fetchone()[0]
            facts["statistics"] = f"sqlite_stat1 rows: {stat_rows}" if has_stat else "none"
            cursor.execute("SELECT sqlite_version()")
            facts["version"] = f"SQLite {cursor.fetchone()[0]}"
        else:
            cursor.execute("SELECT pg_database_size(current_database())")
            facts["size_mb"] = round(cursor.fetchone()[0] / 2**20, 1)
            cursor.execute("SHOW server_version")
            facts["version"] = f"PostgreSQL {cursor.fetchone()[0]}"
            settings = {}
            for name in ("autovacuum", "shared_buffers", "work_mem", "random_page_cost"):
                cursor.execute(f"SHOW {name}")
                settings[name] = cursor.fetchone()[0]
            facts["settings"] = settings
            cursor.execute(
                "SELECT relname, last_analyze, last_autoanalyze FROM pg_stat_user_tables "
                "WHERE relname = ANY(%s) ORDER BY relname",
                [tables],
            )
            analyzed = {
                name: str(manual or auto) if (manual or auto) else None
                for name, manual, auto in cursor.fetchall()
            }
            facts["statistics"] = (
                "analyzed: " + ", ".join(k for k, v in analyzed.items() if v)
                if any(analyzed.values())
                else "none (tables never analyzed)"
            )
            facts["last_analyzed"] = analyzed
    return facts


def run_analyze(bench: Bench) -> float:
    t0 = time.perf_counter()
    with bench.connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--queries", type=int, default=200, help="queries per kind and user")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--budget", type=float, default=120, help="seconds per kind and user")
    parser.add_argument("--analyze", action="store_true", help="run ANALYZE first")
    parser.add_argument("--no-profile", action="store_true", help="skip the profile queries")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autocrm.settings")
    import django

    django.setup()
    bench = Bench(args)
    result: dict[str, Any] = {"analyze_s": None}
    if args.analyze:
        print("    ANALYZE …", flush=True)
        result["analyze_s"] = round(run_analyze(bench), 2)
    result["database"] = database_facts(bench)
    result["scope"] = bench.scope
    result["search"], result["explain"], result["examples"] = measure_search(bench)
    if not args.no_profile:
        try:
            result["profile"] = profile_queries(bench)
        except Exception as exc:  # e.g. app code mid-edit; keep the search results
            traceback.print_exc()
            result["profile"] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(result, fh, ensure_ascii=False, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
