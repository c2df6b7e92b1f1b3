"""Helpers shared by the benchmark scripts: percentiles, rounding, the revision measured,
SIGTERM handling and running a child process for its wall time and peak memory."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def git_revision(root: Path = ROOT) -> str:
    """``git describe --always --dirty`` of the checkout measured, or "unknown"."""
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        rev = ""
    return rev or "unknown"


def _sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C, so ``finally`` blocks stop servers and databases."""
    signal.signal(signal.SIGTERM, _sigterm)


@dataclass
class ChildRun:
    returncode: int
    seconds: float
    peak_rss_mb: float  # the child's high-water mark (VmHWM) as wait4() reports it
    cpu_s: float
    output: str


def run_measured(cmd: list[str], env: dict, log: Path) -> ChildRun:
    """Run ``cmd`` to completion with its output in ``log``; wall time, peak RSS and CPU."""
    with open(log, "w+") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    return ChildRun(
        proc.returncode, seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, text
    )


def fresh_database(db: str, admin_url: str, name: str, env: dict):
    """Point ``env`` at the database to measure: SQLite (no ``DATABASE_URL``) or a new
    PostgreSQL database ``name``. Returns the PostgreSQL database to drop afterwards (None
    for SQLite) and why PostgreSQL cannot be reached ('' when it can; then nothing is made)."""
    from server import PgDatabase

    if db != "postgres":
        env.pop("DATABASE_URL", None)
        return None, ""
    if os.environ.get("AUTOCRM_BENCH_DATA") and os.environ.get("AUTOCRM_BENCH_DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["AUTOCRM_BENCH_DATABASE_URL"]  # loaded already
        return None, ""
    pg = PgDatabase(admin_url, name)
    why = pg.reachable()
    if why:
        return None, why
    pg.create()
    env["DATABASE_URL"] = pg.url
    return pg, ""
