"""AutoCRM benchmarks: readiness, latency, throughput and memory of `autocrm serve`.

Run with `make bench` or `.venv/bin/python benchmarks/run.py --help`. All traffic goes to
127.0.0.1 on a free port; every run is bounded in time and request count and stops the server
it started. See benchmarks/README.md."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import shlex
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import procinfo
from common import git_revision, rounded, stop_on_sigterm
from loadgen import RunStats, build_request, run_load
from server import (
    HOST,
    HarnessError,
    Server,
    api_token,
    bench_env,
    free_port,
    redact_url,
    run_step,
    web_login,
)

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "var" / "bench"
USERNAME = "manager1"
PASSWORD = "demo1234"

TARGET_P95_MS = 20.0
TARGET_P95_CONCURRENCY = 10
TARGET_RPS = 300.0
TARGET_RSS_MB = 150.0
TARGET_READY_S = 3.0
BUSY_WARN_PCT = 25.0


@dataclass
class Scenario:
    name: str
    path: str
    headers: dict[str, str]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per run")
    parser.add_argument(
        "--concurrency",
        default="1,10,50",
        help="comma-separated client counts (default 1,10,50)",
    )
    parser.add_argument(
        "--scale", choices=["small", "chain", "large"], default="chain", help="demo data size"
    )
    parser.add_argument(
        "--max-requests", type=int, default=100_000, help="cap on requests per measured run"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request timeout (s)")
    parser.add_argument(
        "--keep-alive",
        action="store_true",
        help="reuse each client's connection (default: a new connection per request; "
        "see README: gunicorn pins kept-alive connections to one worker)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument(
        "--serve-args",
        default="",
        help='extra `autocrm serve` options for experiments, e.g. "--workers 3 --threads 8" '
        "(results are then not comparable with the default configuration)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="wait up to SECONDS for other processes to go idle before starting",
    )
    parser.add_argument(
        "--paced-rps",
        type=float,
        default=150.0,
        help="also run 10 clients paced to this many req/s in total, latency measured from "
        "the scheduled send time (0 to skip; default 150)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    try:
        args.levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    except ValueError:
        parser.error("--concurrency takes integers, e.g. 1,10,50")
    if not args.levels or min(args.levels) < 1 or max(args.levels) > 500:
        parser.error("--concurrency values must be between 1 and 500")
    if not 0 < args.seconds <= 600 or not 0 <= args.warmup <= 60:
        parser.error("--seconds must be in (0, 600] and --warmup in [0, 60]")
    return args


def measure(
    args: argparse.Namespace,
    server: Server,
    scenario: Scenario,
    concurrency: int,
    rate: float | None = None,
) -> dict:
    """Warm up, then one measured run (closed loop, or paced at ``rate`` req/s in total);
    returns the row for the report."""
    request = build_request(
        HOST, server.port, scenario.path, scenario.headers, keep_alive=args.keep_alive
    )
    if args.warmup > 0:
        asyncio.run(
            run_load(HOST, server.port, request, concurrency, args.warmup, args.max_requests, 10.0)
        )
    workers = [p.pid for p in procinfo.server_tree(server.pid) if p.role == "gunicorn worker"]
    worker_cpu0 = {pid: procinfo.cpu_seconds([pid]) for pid in workers}
    server_cpu0 = procinfo.tree_cpu_seconds(server.pid)
    client_cpu0 = time.process_time()
    busy0 = procinfo.system_cpu()[0]
    stats: RunStats = asyncio.run(
        run_load(
            HOST,
            server.port,
            request,
            concurrency,
            args.seconds,
            args.max_requests,
            args.timeout,
            rate,
        )
    )
    busy = procinfo.system_cpu()[0] - busy0
    server_cpu = procinfo.tree_cpu_seconds(server.pid) - server_cpu0
    client_cpu = time.process_time() - client_cpu0
    worker_cpu = [procinfo.cpu_seconds([pid]) - cpu for pid, cpu in worker_cpu0.items()]
    elapsed = stats.elapsed or 1e-9

    def pct(cpu: float) -> int:
        return round(100 * max(cpu, 0.0) / elapsed)

    return {
        "scenario": scenario.name,
        "path": scenario.path,
        "mode": f"paced {rate:g}/s" if rate else "closed",
        "concurrency": concurrency,
        "requests": stats.requests,
        "ok": stats.ok,
        "errors": stats.errors,
        "error_detail": stats.error_detail(),
        "seconds": round(stats.elapsed, 3),
        "rps": round(stats.rps, 1),
        "p50_ms": rounded(stats.percentile(50)),
        "p95_ms": rounded(stats.percentile(95)),
        "p99_ms": rounded(stats.percentile(99)),
        "max_ms": rounded(max(stats.latencies_ms) if stats.latencies_ms else None),
        "connects": stats.connects,
        "reconnects": stats.reconnects,
        "avg_body_bytes": round(stats.bytes_read / stats.ok) if stats.ok else 0,
        "server_cpu_pct": pct(server_cpu),
        "worker_cpu_pct": [pct(cpu) for cpu in worker_cpu],
        "server_cpu_ms_per_request": (
            round(1000 * server_cpu / stats.requests, 2) if stats.requests else None
        ),
        "client_cpu_pct": pct(client_cpu),
        "other_cpu_pct": pct(busy - server_cpu - client_cpu),
    }


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def evaluate(rows: list[dict], readiness: float, peaks: dict[str, float]) -> list[dict]:
    """Each target with its measured value and PASS/MISS (or n/a when not measured)."""
    targets = []
    for scenario in ("page", "api"):
        runs = [r for r in rows if r["scenario"] == scenario and r["mode"] == "closed"]
        at10 = next((r for r in runs if r["concurrency"] == TARGET_P95_CONCURRENCY), None)
        paced = next((r for r in rows if r["scenario"] == scenario and r["mode"] != "closed"), None)
        label = runs[0]["path"] if runs else scenario
        name = f"p95 {label} @{TARGET_P95_CONCURRENCY} clients"
        goal = f"<= {TARGET_P95_MS:g} ms"
        if at10 is None:
            targets.append(_target(name, None, goal, None))
        else:
            ok = (
                at10["p95_ms"] is not None
                and at10["p95_ms"] <= TARGET_P95_MS
                and at10["errors"] == 0
            )
            note = f"{at10['errors']} errors" if at10["errors"] else ""
            targets.append(_target(name, at10["p95_ms"], goal, ok, note))
        if runs:
            best = max(runs, key=lambda r: r["rps"])
            ok = best["rps"] >= TARGET_RPS and best["errors"] == 0
            note = f"best at {best['concurrency']} clients"
            if best["errors"]:
                note += f", {best['errors']} errors"
            goal = f">= {TARGET_RPS:g} req/s"
            targets.append(_target(f"throughput {label}", best["rps"], goal, ok, note))
        if paced is not None:
            name = f"p95 {label} @{TARGET_P95_CONCURRENCY} clients, {paced['mode']}"
            goal = f"<= {TARGET_P95_MS:g} ms (informational)"
            ok = paced["p95_ms"] is not None and paced["p95_ms"] <= TARGET_P95_MS
            note = "open loop; the target above is the saturated closed loop"
            targets.append(_target(name, paced["p95_ms"], goal, ok, note))
    web = {role: mb for role, mb in peaks.items() if role.startswith("gunicorn")}
    goal = f"<= {TARGET_RSS_MB:g} MB"
    if web:
        role, worst = max(web.items(), key=lambda item: item[1])
        note = f"highest seen after any run: {role}"
        ok = worst <= TARGET_RSS_MB
        targets.append(_target("RSS per web process", worst, goal, ok, note))
    else:
        targets.append(_target("RSS per web process", None, goal, None))
    goal = f"<= {TARGET_READY_S:g} s"
    targets.append(_target("readiness", readiness, goal, readiness <= TARGET_READY_S))
    return targets


def _target(name: str, value: float | None, goal: str, ok: bool | None, note: str = "") -> dict:
    verdict = "n/a" if ok is None else ("PASS" if ok else "MISS")
    return {"target": name, "value": value, "goal": goal, "result": verdict, "note": note}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def print_report(result: dict) -> None:
    config = result["config"]
    print()
    print(
        f"AutoCRM benchmark  {result['timestamp']}  rev {result['revision']}  "
        f"scale {config['scale']}  {result['host']['cpus']} CPUs  {config['seconds']:g} s/run  "
        f"{'keep-alive' if config['keep_alive'] else 'new connection per request'}"
    )
    print(f"server: autocrm {config['server_args']}  database: {config['database']}")
    if config["serve_args"]:
        print(f"NOTE: non-default server options: {config['serve_args']}")
    header = (
        f"{'scenario':<17}{'mode':<12}{'conc':>5}{'requests':>9}{'rps':>8}"
        f"{'p50 ms':>8}{'p95 ms':>8}"
        f"{'p99 ms':>8}{'errors':>7}{'srv cpu':>8}{'ms/req':>7}{'client':>7}{'other':>7}"
    )
    print()
    print(header)
    print("-" * len(header))
    for r in result["runs"]:
        print(
            f"{r['scenario'] + ' ' + r['path']:<17}{r['mode']:<12}{r['concurrency']:>5}"
            f"{r['requests']:>9}"
            f"{r['rps']:>8.1f}{_fmt(r['p50_ms']):>8}{_fmt(r['p95_ms']):>8}"
            f"{_fmt(r['p99_ms']):>8}{r['errors']:>7}{_pct(r['server_cpu_pct']):>8}"
            f"{_fmt(r['server_cpu_ms_per_request']):>7}{_pct(r['client_cpu_pct']):>7}"
            f"{_pct(r['other_cpu_pct']):>7}"
        )
        if r["errors"]:
            print(f"{'':<22}errors: {r['error_detail']}")
    print(
        "closed = each client sends again as soon as answered (the server's capacity); paced = "
        "fixed total rate,\nlatency from the scheduled send time. "
        "rps counts 200 responses only; percentiles are over 200 responses; cpu columns are "
        "% of one core\n(srv = autocrm serve and its children, ms/req = server CPU per request, "
        "other = the rest of the machine)."
    )
    print()
    prep = result["preparation"]
    print(
        f"preparation: demo data {prep['demo_s']:.1f} s, "
        f"collectstatic {prep['collectstatic_s']:.1f} s (not counted in readiness)"
    )
    print(f"readiness: {result['readiness_s']:.2f} s from Popen to first 200 of GET /login/")
    if result["host"]["bytecode_note"]:
        print(f"  note: {result['host']['bytecode_note']}")
    print("memory after load (RSS counts shared pages in full; PSS splits them):")
    for m in result["memory"]:
        print(
            f"  {m['role']:<28} pid {m['pid']:>7}  RSS {_fmt(m['rss_mb']):>6} MB"
            f"  PSS {_fmt(m['pss_mb']):>6} MB"
        )
    peaks = ", ".join(f"{role} {mb:.1f} MB" for role, mb in result["rss_peak_mb"].items())
    print(f"  highest RSS seen after any run: {peaks}")
    if result["worker_restarts"]:
        print(
            f"  {result['worker_restarts']} gunicorn worker(s) were replaced during the run "
            "(gunicorn --max-requests)"
        )
    if result["host"]["busy_before_pct"] > BUSY_WARN_PCT:
        print(
            f"WARNING: other processes used {result['host']['busy_before_pct']:.0f}% of a core "
            "before the run; results are noisy."
        )
    print()
    print("targets:")
    for t in result["targets"]:
        value = "-" if t["value"] is None else f"{t['value']:.2f}"
        note = f"  ({t['note']})" if t["note"] else ""
        print(f"  {t['result']:<5} {t['target']:<28} {value:>8}  goal {t['goal']}{note}")


def bytecode_note(env: dict[str, str]) -> str:
    """Why server start-up may be slow: no cached bytecode means every import compiles."""
    spec = importlib.util.find_spec("django")
    origin = Path(spec.origin) if spec and spec.origin else None
    compiled = origin is not None and any(origin.parent.glob("__pycache__/*.pyc"))
    if compiled or env.get("PYTHONPYCACHEPREFIX"):
        return ""
    if env.get("PYTHONDONTWRITEBYTECODE"):
        return (
            "no .pyc files in the venv and PYTHONDONTWRITEBYTECODE is set: every process "
            "compiles Django from source (~0.8 s each); see benchmarks/README.md"
        )
    return "no .pyc files in the venv yet (first start compiles them)"


class Harness:
    """One benchmark run; ``server`` is kept so ``main`` can always stop it."""

    def __init__(self) -> None:
        self.server: Server | None = None

    def run(
        self, args: argparse.Namespace, stamp: str, data_dir: Path, env: dict[str, str]
    ) -> dict:
        """Prepare, start, measure; the caller stops the server."""
        return _run(self, args, stamp, data_dir, env)


def _run(
    harness: Harness, args: argparse.Namespace, stamp: str, data_dir: Path, env: dict[str, str]
) -> dict:
    database = env.get("DATABASE_URL")
    busy = procinfo.other_cpu_share(1.0, [os.getpid()])
    quiet_deadline = time.monotonic() + min(args.wait_quiet, 3600)
    while busy > BUSY_WARN_PCT and time.monotonic() < quiet_deadline:
        print(f"waiting for the machine to go idle ({busy:.0f}% of a core busy) …", flush=True)
        busy = procinfo.other_cpu_share(2.0, [os.getpid()])
    if busy > BUSY_WARN_PCT:
        print(f"WARNING: the machine is busy ({busy:.0f}% of a core used by other processes)")
    print(f"loading demo data (scale {args.scale}) …", flush=True)
    demo_s = run_step(["demo", "--scale", args.scale, "--no-serve"], env)
    collect_s = run_step(["manage", "collectstatic", "--noinput", "-v", "0"], env)

    port = free_port()
    print(f"starting autocrm serve on {HOST}:{port} …", flush=True)
    server = harness.server = Server(
        env, port, data_dir / "server.log", shlex.split(args.serve_args)
    )
    readiness = server.wait_ready()
    print(f"ready after {readiness:.2f} s", flush=True)

    session = web_login(port, USERNAME, PASSWORD)
    token = api_token(port, USERNAME, PASSWORD)
    scenarios = [
        Scenario("page", "/", {"Cookie": session.cookie_header(), "Accept": "text/html"}),
        Scenario(
            "api", "/api/v1/me", {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        ),
    ]
    workers_before = {
        p.pid for p in procinfo.server_tree(server.pid) if p.role == "gunicorn worker"
    }
    rows = []
    peaks: dict[str, float] = {}
    for scenario in scenarios:
        for level in args.levels:
            print(f"  {scenario.name} {scenario.path} @ {level} clients …", flush=True)
            rows.append(measure(args, server, scenario, level))
            for proc in procinfo.server_tree(server.pid):
                peaks[proc.role] = max(peaks.get(proc.role, 0.0), proc.rss_mb or 0.0)
        if args.paced_rps:
            print(
                f"  {scenario.name} {scenario.path} @ {TARGET_P95_CONCURRENCY} clients paced "
                f"to {args.paced_rps:g} req/s …",
                flush=True,
            )
            rows.append(
                measure(args, server, scenario, TARGET_P95_CONCURRENCY, rate=args.paced_rps)
            )
            for proc in procinfo.server_tree(server.pid):
                peaks[proc.role] = max(peaks.get(proc.role, 0.0), proc.rss_mb or 0.0)
    tree = procinfo.server_tree(server.pid)
    workers_after = {p.pid for p in tree if p.role == "gunicorn worker"}
    memory = [p.as_dict() for p in tree]
    result = {
        "timestamp": stamp,
        "revision": git_revision(),
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "busy_before_pct": round(busy),
            "bytecode_note": bytecode_note(env),
        },
        "config": {
            "scale": args.scale,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "concurrency": args.levels,
            "max_requests": args.max_requests,
            "keep_alive": args.keep_alive,
            "serve_args": args.serve_args,
            "database": redact_url(database) if database else "SQLite (AUTOCRM_VAR)",
            "server_args": " ".join(server.command[1:]),
        },
        "preparation": {"demo_s": round(demo_s, 2), "collectstatic_s": round(collect_s, 2)},
        "readiness_s": round(readiness, 3),
        "runs": rows,
        "memory": memory,
        "rss_peak_mb": peaks,
        "worker_restarts": len(workers_before - workers_after),
    }
    result["targets"] = evaluate(rows, readiness, peaks)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if sys.platform != "linux":
        print("benchmarks/run.py reads /proc and needs Linux", file=sys.stderr)
        return 2
    stop_on_sigterm()
    # Also when started in the background, where SIGINT is inherited as ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    data_dir = BENCH_DIR / f"run-{stamp}"
    data_dir.mkdir()
    env = bench_env(data_dir)
    database = env.get("DATABASE_URL")
    print(f"data directory: {data_dir}{'' if args.keep else ' (removed afterwards)'}")
    print(f"database: {redact_url(database) if database else 'SQLite in the data directory'}")
    harness = Harness()
    try:
        result = harness.run(args, stamp, data_dir, env)
    except HarnessError as exc:
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; stopping the server", file=sys.stderr)
        return 130
    finally:
        if harness.server is not None:
            harness.server.stop()
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)

    print_report(result)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    out = BENCH_DIR / f"results-{stamp}.json"
    out.write_text(text + "\n")
    (BENCH_DIR / "latest.json").write_text(text + "\n")
    print(f"\nresults: {out.relative_to(ROOT)} (also var/bench/latest.json)")
    missed = [t for t in result["targets"] if t["result"] == "MISS"]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
