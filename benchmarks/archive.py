"""Customer-archive benchmark: demo load, search and the 360° page on SQLite and PostgreSQL.

Run with `make bench` (after benchmarks/run.py) or `.venv/bin/python benchmarks/archive.py
--help`. For each database it loads `autocrm demo --scale <scale> --no-serve` into a throw-away
database (timed, with its peak RSS), measures search in-process against hand-written SQL
(benchmarks/archive_inproc.py), measures the 360° page through a live `autocrm serve` on
127.0.0.1, then runs ANALYZE and measures again. Every step is bounded in time; servers,
data directories and the PostgreSQL database it creates are removed afterwards (--keep keeps
them). See benchmarks/README.md."""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import procinfo
from common import git_revision, percentile, rounded, stop_on_sigterm
from server import (
    HOST,
    HarnessError,
    PgDatabase,
    Server,
    api_token,
    autocrm_command,
    bench_env,
    free_port,
    redact_url,
    reused_data,
    run_step,
    web_login,
)

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "var" / "bench"
INPROC = Path(__file__).resolve().with_name("archive_inproc.py")
USERS = ("manager1", "hq")
PASSWORD = "demo1234"
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/postgres"

TARGET_LOAD_S = 600.0
TARGET_SEARCH_P95_MS = 20.0
TARGET_RATIO = 3.0
TARGET_PAGE_P95_MS = 50.0
BUSY_WARN_PCT = 25.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale", choices=["small", "chain", "large"], default="large", help="demo data size"
    )
    parser.add_argument(
        "--databases",
        default="sqlite,postgres",
        help="comma-separated: sqlite, postgres (default both; postgres is skipped with a "
        "note when the server is not reachable)",
    )
    parser.add_argument(
        "--pg-admin-url",
        default=os.environ.get("BENCH_PG_ADMIN_URL", DEFAULT_PG),
        help="a PostgreSQL URL psql can connect to, to create and drop the throw-away "
        f"database autocrm_bench_<timestamp> (default {DEFAULT_PG})",
    )
    parser.add_argument("--queries", type=int, default=200, help="search queries per kind+user")
    parser.add_argument(
        "--budget", type=float, default=120, help="seconds at most per search kind and user"
    )
    parser.add_argument("--page-rounds", type=int, default=2, help="passes over the customers")
    parser.add_argument(
        "--load-timeout", type=float, default=1800, help="seconds before the demo load is stopped"
    )
    parser.add_argument("--timeout", type=float, default=10, help="per-request timeout (s)")
    parser.add_argument("--seed", type=int, default=1, help="seed for the sampled queries")
    parser.add_argument("--no-analyze", action="store_true", help="skip the after-ANALYZE pass")
    parser.add_argument("--keep", action="store_true", help="keep data directories and databases")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    args.db_list = [d.strip() for d in args.databases.split(",") if d.strip()]
    if not args.db_list or set(args.db_list) - {"sqlite", "postgres"}:
        parser.error("--databases takes sqlite and/or postgres")
    if not 1 <= args.queries <= 5000 or not 1 <= args.page_rounds <= 20:
        parser.error("--queries must be in [1, 5000] and --page-rounds in [1, 20]")
    return args


# --- steps --------------------------------------------------------------------------------


def load_demo(env: dict[str, str], scale: str, log_path: Path, timeout: float) -> dict[str, Any]:
    """`autocrm demo --scale <scale> --no-serve`: wall time and peak RSS (from wait4)."""
    command = [*autocrm_command(), "demo", "--scale", scale, "--no-serve"]
    with log_path.open("wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() - t0 > timeout:
                    raise HarnessError(f"the demo load took longer than {timeout:.0f} s; stopped")
                time.sleep(0.2)
        except BaseException:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(proc.pid, 0)
            proc.returncode = -9
            raise
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    output = log_path.read_text(errors="replace")
    if proc.returncode != 0:
        raise HarnessError(f"`autocrm demo` failed (exit {proc.returncode}):\n{output[-3000:]}")
    summary = next((line for line in output.splitlines() if "demo data loaded" in line), "")
    return {
        "command": " ".join(["autocrm", *command[1:]]),
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "summary": summary.strip(),
    }


def run_inproc(env: dict[str, str], out: Path, args: argparse.Namespace, analyze: bool) -> dict:
    """benchmarks/archive_inproc.py in a child process (Django is set up once per process)."""
    command = [
        sys.executable,
        str(INPROC),
        "--out",
        str(out),
        "--queries",
        str(args.queries),
        "--seed",
        str(args.seed),
        "--budget",
        str(args.budget),
    ]
    if analyze:
        command += ["--analyze", "--no-profile"]
    limit = 12 * args.budget + 900  # 12 kinds x users, plus ANALYZE, plans and counts
    try:
        proc = subprocess.run(
            command, env=env, stdin=subprocess.DEVNULL, text=True, timeout=limit, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"the in-process measurements took longer than {limit:.0f} s") from exc
    if proc.returncode != 0 or not out.exists():
        raise HarnessError(f"benchmarks/archive_inproc.py failed (exit {proc.returncode})")
    return json.loads(out.read_text())


def _sequential(
    port: int, requests: list[tuple[str, str]], headers: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    """GET each (path, expected name) in turn on one kept-alive connection; the first ten
    are a warm-up. Latency is from sending the request to reading the whole body."""
    latencies: list[float] = []
    outcome: Counter = Counter()
    conn: http.client.HTTPConnection | None = None
    deadline = time.perf_counter() + 300
    warmup = min(10, len(requests) // 4)
    for i, (path, name) in enumerate(requests):
        if time.perf_counter() > deadline:
            outcome["stopped (300 s limit)"] += 1
            break
        t0 = time.perf_counter()
        try:
            if conn is None:
                conn = http.client.HTTPConnection(HOST, port, timeout=args.timeout)
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            elapsed = (time.perf_counter() - t0) * 1000
            if response.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as exc:
            if conn is not None:
                conn.close()
            conn = None
            if i >= warmup:
                outcome[type(exc).__name__] += 1
            continue
        if i < warmup:
            continue
        named = name.encode() in body or json.dumps(name).encode()[1:-1] in body
        if response.status == 200 and named:
            latencies.append(elapsed)
            outcome["200"] += 1
        else:
            outcome[f"{response.status}{'' if named else ' (name not in body)'}"] += 1
    if conn is not None:
        conn.close()
    errors = sum(n for k, n in outcome.items() if k != "200")
    return {
        "requests": sum(outcome.values()),
        "ok": outcome["200"],
        "errors": errors,
        "outcome": dict(outcome),
        "p50_ms": rounded(percentile(latencies, 50)),
        "p95_ms": rounded(percentile(latencies, 95)),
        "max_ms": rounded(max(latencies) if latencies else None),
    }


def measure_pages(
    env: dict[str, str],
    data_dir: Path,
    top: dict[str, list[dict]],
    args: argparse.Namespace,
    tag: str,
) -> dict[str, Any]:
    """GET /customers/<id>/ (and the profile API) for the customers with the most visits,
    one client, through a live `autocrm serve`; the server is always stopped."""
    port = free_port()
    server = Server(env, port, data_dir / f"server-{tag}.log", [])
    try:
        ready = server.wait_ready()
        runs = []
        page_missing = False
        for user in USERS:
            customers = top.get(user, [])
            if not customers:
                continue
            session = web_login(port, user, PASSWORD)
            token = api_token(port, user, PASSWORD)
            page_headers = {"Cookie": session.cookie_header(), "Accept": "text/html"}
            api_headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            status, _, _ = session.request(
                "GET", f"/customers/{customers[0]['id']}/", headers={"Accept": "text/html"}
            )
            page_missing = page_missing or status == 404
            kinds = [("api", "/api/v1/customers/{}/profile", api_headers)]
            if status != 404:
                kinds.insert(0, ("page", "/customers/{}/", page_headers))
            for kind, pattern, headers in kinds:
                print(f"    {kind} as {user} ({len(customers)} customers) …", flush=True)
                requests = [(pattern.format(c["id"]), c["name"]) for c in customers[:10]]
                requests += [
                    (pattern.format(c["id"]), c["name"])
                    for _ in range(args.page_rounds)
                    for c in customers
                ]
                row = _sequential(port, requests, headers, args)
                row.update(user=user, kind=kind, path=pattern.format("<id>"))
                runs.append(row)
        workers = [
            p.rss_mb or 0.0 for p in procinfo.server_tree(server.pid) if p.role == "gunicorn worker"
        ]
        return {
            "readiness_s": round(ready, 2),
            "page_missing": page_missing,
            "runs": runs,
            "worker_rss_mb": max(workers) if workers else None,
        }
    finally:
        server.stop()


# --- one database -------------------------------------------------------------------------


def run_database(
    db: str, args: argparse.Namespace, run_dir: Path, stamp: str, cleanup: list
) -> dict[str, Any]:
    """Load, measure, ANALYZE, measure again; returns this database's section. With
    ``AUTOCRM_BENCH_DATA`` (and, for PostgreSQL, ``AUTOCRM_BENCH_DATABASE_URL``) the demo a
    kept run loaded is migrated to this revision and measured instead (no load time)."""
    reused = reused_data()
    data_dir = reused or run_dir / db
    data_dir.mkdir(parents=True, exist_ok=bool(reused))
    env = bench_env(data_dir)
    env.pop("DATABASE_URL", None)
    section: dict[str, Any] = {"name": db}
    if reused and db == "postgres":
        env["DATABASE_URL"] = os.environ.get("AUTOCRM_BENCH_DATABASE_URL", "")
        section["database"] = redact_url(env["DATABASE_URL"])
    elif reused:
        section["database"] = str(data_dir / "autocrm.sqlite3")
    elif db == "postgres":
        pg = PgDatabase(args.pg_admin_url, f"autocrm_bench_{stamp.replace('-', '_')}")
        why = pg.reachable()
        if why:
            where = redact_url(args.pg_admin_url)
            section["skipped"] = f"PostgreSQL not reachable at {where}: {why}"
            return section
        pg.create()
        if not args.keep:
            cleanup.append(pg.drop)
        env["DATABASE_URL"] = pg.url
        section["database"] = redact_url(pg.url)
    else:
        section["database"] = str(data_dir / "autocrm.sqlite3")
    section["busy_before_pct"] = round(procinfo.other_cpu_share(1.0, [os.getpid()]))
    if reused:
        print(f"[{db}] reusing {data_dir} (AUTOCRM_BENCH_DATA); migrating …", flush=True)
        migrate_s = run_step(["migrate"], env, timeout=args.load_timeout)
        section["load"] = {"reused": str(data_dir), "migrate_s": migrate_s}
        print(f"[{db}] migrated in {section['load']['migrate_s']:.1f} s", flush=True)
    else:
        print(f"[{db}] loading demo data (scale {args.scale}) …", flush=True)
        section["load"] = load_demo(env, args.scale, data_dir / "demo.log", args.load_timeout)
        print(
            f"[{db}] loaded in {section['load']['wall_s']:.1f} s, "
            f"peak RSS {section['load']['peak_rss_mb']:.0f} MB",
            flush=True,
        )
    run_step(["manage", "collectstatic", "--noinput", "-v", "0"], env)
    print(f"[{db}] in-process search and profile (as loaded, no ANALYZE) …", flush=True)
    loaded = run_inproc(env, data_dir / "inproc-loaded.json", args, analyze=False)
    section["as_loaded"] = loaded
    top = loaded["profile"].get("top_customers")
    print(f"[{db}] 360° page through autocrm serve …", flush=True)
    loaded["pages"] = _pages_or_error(env, data_dir, top, args, "loaded")
    if not args.no_analyze:
        print(f"[{db}] ANALYZE, then search and page again …", flush=True)
        analyzed = run_inproc(env, data_dir / "inproc-analyzed.json", args, analyze=True)
        analyzed["pages"] = _pages_or_error(env, data_dir, top, args, "analyzed")
        section["after_analyze"] = analyzed
    return section


def _pages_or_error(
    env: dict[str, str],
    data_dir: Path,
    top: dict[str, list[dict]] | None,
    args: argparse.Namespace,
    tag: str,
) -> dict[str, Any]:
    """The page measurement, or why it could not run (the search results are kept)."""
    if not top:
        return {"error": "no customers to request (the profile step failed)"}
    try:
        return measure_pages(env, data_dir, top, args, tag)
    except HarnessError as exc:
        print(f"    page measurement failed: {exc}", file=sys.stderr)
        return {"error": str(exc)[:2000]}


# --- targets and report -------------------------------------------------------------------


def _target(
    db: str, name: str, value: float | None, goal: str, ok: bool | None, note: str = ""
) -> dict[str, Any]:
    verdict = "n/a" if ok is None else ("PASS" if ok else "MISS")
    return {
        "database": db,
        "target": name,
        "value": value,
        "goal": goal,
        "result": verdict,
        "note": note,
    }


def _page_rows(phase: dict[str, Any]) -> list[dict]:
    """The rows that count for the page target: the page, or the API when it is missing."""
    pages = phase.get("pages", {})
    if "error" in pages:
        return [{"kind": "page", "user": "-", "p95_ms": None, "failed": pages["error"]}]
    runs = pages.get("runs", [])
    wanted = "api" if pages.get("page_missing") else "page"
    return [r for r in runs if r["kind"] == wanted]


def evaluate(section: dict[str, Any]) -> list[dict]:
    """PASS/MISS for one database."""
    db = section["name"]
    if "skipped" in section or "error" in section:
        reason = section.get("skipped") or section.get("error", "")
        return [_target(db, "all targets", None, "-", None, reason[:200])]
    targets = []
    load = section["load"]
    if "reused" in load:  # no load was timed
        load = {"wall_s": None, "peak_rss_mb": None}
    targets.append(
        _target(
            db,
            "demo load wall time (s)",
            load["wall_s"],
            f"<= {TARGET_LOAD_S:g} s",
            None if load["wall_s"] is None else load["wall_s"] <= TARGET_LOAD_S,
        )
    )
    targets.append(
        _target(db, "demo load peak RSS (MB)", load["peak_rss_mb"], "measured", None, "no goal")
    )
    phases = [("as loaded", section.get("as_loaded"))]
    if section.get("after_analyze"):
        phases.append(("after ANALYZE", section["after_analyze"]))
    for label, phase in phases:
        rows = phase["search"]
        slow = [r for r in rows if (r["app_p95_ms"] or 0) > TARGET_SEARCH_P95_MS]
        worst = max(rows, key=lambda r: r["app_p95_ms"] or 0)
        note = ", ".join(f"{r['user']}/{r['kind']} {r['app_p95_ms']:.1f}" for r in slow)
        targets.append(
            _target(
                db,
                f"search p95 (ms), worst of 12, {label}",
                worst["app_p95_ms"],
                f"<= {TARGET_SEARCH_P95_MS:g} ms each",
                not slow,
                f"{len(rows) - len(slow)}/{len(rows)} pass"
                + (f"; over: {note}" if note else f"; worst {worst['user']}/{worst['kind']}"),
            )
        )
        ratios = [r for r in rows if r["ratio_p50"] is not None]
        over = [r for r in ratios if r["ratio_p50"] > TARGET_RATIO]
        worst = max(ratios, key=lambda r: r["ratio_p50"]) if ratios else None
        targets.append(
            _target(
                db,
                f"search app/SQL p50 ratio, worst, {label}",
                worst["ratio_p50"] if worst else None,
                f"<= {TARGET_RATIO:g}x each",
                (not over) if ratios else None,
                f"{len(ratios) - len(over)}/{len(ratios)} pass"
                + (f"; worst {worst['user']}/{worst['kind']}" if worst else ""),
            )
        )
        for row in _page_rows(phase):
            if row.get("failed"):
                name = f"360° page p95 (ms), {label}"
                note = f"not measured: {row['failed'][:150]}"
                targets.append(_target(db, name, None, f"<= {TARGET_PAGE_P95_MS:g} ms", None, note))
                continue
            fallback = row["kind"] == "api"
            ok = row["p95_ms"] is not None and row["p95_ms"] <= TARGET_PAGE_P95_MS
            note = f"{row['ok']} requests, {row['errors']} errors"
            if fallback:
                note += "; /customers/<id>/ returned 404: measured the profile API instead"
            targets.append(
                _target(
                    db,
                    f"360° {'API' if fallback else 'page'} p95 (ms) as {row['user']}, {label}",
                    row["p95_ms"],
                    f"<= {TARGET_PAGE_P95_MS:g} ms",
                    ok and row["errors"] == 0,
                    note,
                )
            )
    return targets


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def print_search(rows: list[dict]) -> None:
    header = (
        f"  {'user':<9}{'kind':<13}{'example':<13}{'n':>4}{'app p50':>9}{'app p95':>9}"
        f"{'sql p50':>9}{'sql p95':>9}{'ratio':>8}{'+ms':>7}{'q':>3}{'hits':>6}{'found':>10}"
        f"  p95<=20 ratio<=3"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    for r in rows:
        p95_ok = r["app_p95_ms"] is not None and r["app_p95_ms"] <= TARGET_SEARCH_P95_MS
        ratio_ok = r["ratio_p50"] is not None and r["ratio_p50"] <= TARGET_RATIO
        extra = (
            None
            if r["app_p50_ms"] is None or r["sql_p50_ms"] is None
            else r["app_p50_ms"] - r["sql_p50_ms"]
        )
        found = f"{_fmt(r['app_found_pct'], '.0f')}/{_fmt(r['sql_found_pct'], '.0f')}%"
        print(
            f"  {r['user']:<9}{r['kind']:<13}{r['example'][:12]:<13}{r['n']:>4}"
            f"{_fmt(r['app_p50_ms']):>9}{_fmt(r['app_p95_ms']):>9}{_fmt(r['sql_p50_ms']):>9}"
            f"{_fmt(r['sql_p95_ms']):>9}{_fmt(r['ratio_p50'], '.1f'):>7}x{_fmt(extra):>7}"
            f"{r['queries_per_call'] or 0:>3}{_fmt(r['app_avg_hits'], '.1f'):>6}{found:>10}"
            f"  {'PASS' if p95_ok else 'MISS':<8}{'PASS' if ratio_ok else 'MISS'}"
            + ("  (stopped at time budget)" if r["truncated"] else "")
        )


PLAN_NOISE = ("Buffers:", "Sort Method:", "Worker ", "Planning:", "Heap Blocks:", "Batches:")


def _plan_lines(plan: list[str], width: int, max_lines: int) -> list[str]:
    """A plan without its bookkeeping lines, each cut to ``width``."""
    lines = [line for line in plan if not line.strip().startswith(PLAN_NOISE)]
    lines = [line[:90] + " …" if "Sort Key:" in line else line[:width] for line in lines]
    if len(lines) > max_lines:
        lines = lines[:max_lines] + [f"… ({len(lines) - max_lines} more lines in the JSON)"]
    return lines


def print_plans(phase: dict[str, Any], width: int = 150, max_lines: int = 30) -> None:
    """Query plans of the app's SQL (and the hand-written SQL) for rows over 20 ms."""
    for r in phase["search"]:
        if (r["app_p95_ms"] or 0) <= TARGET_SEARCH_P95_MS:
            continue
        detail = phase["explain"].get(f"{r['user']}/{r['kind']}") or {}
        print(
            f"  plan for {r['user']}/{r['kind']} q={detail.get('q')!r} "
            f"({detail.get('app_ms_rerun')} ms, {detail.get('queries')} queries):"
        )
        for i, query in enumerate(detail.get("app_sql", []), 1):
            print(f"    app query {i}: {_short_sql(query['sql'])[:width]}")
            for line in _plan_lines(query["plan"], width, max_lines):
                print(f"      {line}")
        print(f"    hand-written: {detail.get('bare_sql', '')[:width]}")
        for line in _plan_lines(detail.get("bare_plan", []), width, max_lines):
            print(f"      {line}")


def _short_sql(sql: str) -> str:
    """The SQL with its long column list folded: SELECT [DISTINCT] … FROM …"""
    head, sep, rest = sql.partition(" FROM ")
    if not sep:
        return sql
    distinct = "DISTINCT " if head.startswith("SELECT DISTINCT") else ""
    return f"SELECT {distinct}<{head.count(',') + 1} columns> FROM {rest}"


def print_pages(pages: dict[str, Any]) -> None:
    if "error" in pages:
        print(f"  FAILED: {pages['error'][:600]}")
        return
    print(
        f"  server ready in {pages['readiness_s']:.2f} s; largest gunicorn worker RSS "
        f"{_fmt(pages['worker_rss_mb'], '.0f')} MB after the runs"
    )
    if pages["page_missing"]:
        print("  NOTE: GET /customers/<id>/ returned 404 (page view not there yet): API only")
    for r in pages["runs"]:
        errors = f"  errors: {r['outcome']}" if r["errors"] else ""
        print(
            f"  {r['kind']:<5}{r['path']:<32} as {r['user']:<9}{r['ok']:>5} ok  "
            f"p50 {_fmt(r['p50_ms']):>7} ms  p95 {_fmt(r['p95_ms']):>7} ms  "
            f"max {_fmt(r['max_ms']):>7} ms{errors}"
        )


def print_profile(profile: dict[str, Any]) -> None:
    if "error" in profile:
        print(f"  SQL queries per profile call: FAILED: {profile['error']}")
        return
    print(
        "  SQL queries per call, in-process (manager1; the demo's longest history is "
        f"{profile['max_visit_count']} visits):"
    )
    for case in profile["cases"]:
        calls = ", ".join(
            f"{name} {case[name]['queries']}"
            + ("" if case[name]["status"] in (None, 200) else f" (status {case[name]['status']})")
            for name in ("profile()", "GET api profile", "GET page")
            if name in case
        )
        print(
            f"    {case['history']:<5} history (customer {case['customer_id']}: "
            f"{case['visit_count']} visits, {case['vehicles']} vehicles, "
            f"{case['interactions']} timeline entries): {calls}"
        )


def print_section(section: dict[str, Any]) -> None:
    db = section["name"]
    print()
    print(f"=== {db} ===")
    if "skipped" in section:
        print(f"  skipped: {section['skipped']}")
        return
    if "error" in section:
        print(f"  FAILED: {section['error']}")
        return
    loaded = section["as_loaded"]
    facts = loaded["database"]
    rows = ", ".join(
        f"{name.removeprefix('customers_')} {n:,}" for name, n in facts["rows"].items()
    )
    print(f"  {facts['version']}, {facts['size_mb']:.0f} MB after load: {rows}")
    if facts.get("settings"):
        print(f"  settings: {facts['settings']}")
    if section["busy_before_pct"] > BUSY_WARN_PCT:
        print(
            f"  WARNING: other processes used {section['busy_before_pct']}% of a core before "
            "this database's run; timings are noisy"
        )
    load = section["load"]
    if "reused" in load:
        print(f"  load: reused {load['reused']}, migrated in {load['migrate_s']:.1f} s")
    else:
        print(
            f"  load: `{load['command']}` {load['wall_s']:.1f} s wall, {load['cpu_s']:.0f} s "
            f"CPU, peak RSS {load['peak_rss_mb']:.0f} MB (the loading process; not the "
            "database server)"
        )
    phases = [("as loaded", loaded)]
    if section.get("after_analyze"):
        phases.append(("after ANALYZE", section["after_analyze"]))
    for label, phase in phases:
        print()
        extra = f", ANALYZE took {phase['analyze_s']:.1f} s" if phase.get("analyze_s") else ""
        print(f"  search, {label} (planner statistics: {phase['database']['statistics']}{extra})")
        print_search(phase["search"])
        print_plans(phase)
        print()
        print(f"  360° page, {label}: 1 client, sequential, customers with the most visits")
        print_pages(phase["pages"])
    print()
    print_profile(loaded["profile"])


def print_report(result: dict[str, Any]) -> None:
    print()
    print(
        f"AutoCRM archive benchmark  {result['timestamp']}  rev {result['revision']}  "
        f"scale {result['config']['scale']}  {result['host']['cpus']} CPUs  "
        f"{result['config']['queries']} queries per kind and user"
    )
    print(
        "search: in-process selectors.search(user, q) (app) vs the same lookup as hand-written "
        "SQL on the raw DB-API cursor (sql), interleaved;\n"
        "times in ms; ratio = app p50 / sql p50; +ms = app p50 - sql p50; q = SQL queries per "
        "search() call; hits = average hits;\nfound = % of queries whose source row is among "
        "the app's / the SQL's first 10 (only meaningful for unambiguous kinds)"
    )
    for section in result["databases"]:
        print_section(section)
    print()
    print("targets:")
    for t in result["targets"]:
        value = "-" if t["value"] is None else f"{t['value']:.2f}"
        note = f"  ({t['note']})" if t["note"] else ""
        print(
            f"  {t['result']:<5}[{t['database']}] {t['target']:<44} {value:>9}  "
            f"goal {t['goal']}{note}"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if sys.platform != "linux":
        print("benchmarks/archive.py reads /proc and needs Linux", file=sys.stderr)
        return 2
    stop_on_sigterm()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = BENCH_DIR / f"archive-{stamp}"
    run_dir.mkdir(parents=True)
    print(f"data directory: {run_dir}{'' if args.keep else ' (removed afterwards)'}")
    result: dict[str, Any] = {
        "timestamp": stamp,
        "revision": git_revision(),
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg": os.getloadavg(),
        },
        "config": {
            key: getattr(args, key)
            for key in ("scale", "db_list", "queries", "budget", "page_rounds", "seed")
        },
        "targets_goal": {
            "load_s": TARGET_LOAD_S,
            "search_p95_ms": TARGET_SEARCH_P95_MS,
            "search_ratio": TARGET_RATIO,
            "page_p95_ms": TARGET_PAGE_P95_MS,
        },
        "databases": [],
    }
    cleanup: list = []
    interrupted = False
    try:
        for db in args.db_list:
            try:
                result["databases"].append(run_database(db, args, run_dir, stamp, cleanup))
            except HarnessError as exc:
                print(f"[{db}] failed: {exc}", file=sys.stderr)
                result["databases"].append({"name": db, "error": str(exc)})
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        interrupted = True
    finally:
        for drop in cleanup:
            try:
                drop()
            except HarnessError as exc:
                print(f"cleanup: {exc}", file=sys.stderr)
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    if interrupted:
        return 130
    result["targets"] = [t for s in result["databases"] for t in evaluate(s)]
    print_report(result)
    text = json.dumps(result, indent=1, ensure_ascii=False, default=str)
    out = BENCH_DIR / f"archive-{stamp}.json"
    out.write_text(text + "\n")
    print(f"\nresults: {out.relative_to(ROOT)}")
    missed = [t for t in result["targets"] if t["result"] == "MISS"]
    failed = any("error" in s for s in result["databases"])
    if failed:
        return 2
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
