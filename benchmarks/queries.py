"""SQL queries and in-process time per request for the benchmarked URLs (no HTTP server).

Usage: .venv/bin/python benchmarks/queries.py [--scale chain] [--sql] [--repeat 200]

Loads the demo into a throw-away AUTOCRM_VAR, then calls each URL through Django's test
client in this process, printing the number of queries, their SQL (with --sql) and the mean
time per request on one thread."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from server import HarnessError, in_process

ROOT = Path(__file__).resolve().parent.parent
USERNAME = "manager1"
PASSWORD = "demo1234"


def profile(args: argparse.Namespace) -> None:
    """Runs after AUTOCRM_VAR points at a loaded data directory."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from autocrm.core.models import User

    page = Client(HTTP_HOST="127.0.0.1")
    page.force_login(User.objects.get(username=USERNAME))
    api = Client(HTTP_HOST="127.0.0.1")
    response = api.post(
        "/api/v1/auth/token",
        json.dumps({"username": USERNAME, "password": PASSWORD}),
        content_type="application/json",
    )
    token = response.json()["token"]
    cases = [
        ("GET /", page, "/", {}),
        ("GET /api/v1/me", api, "/api/v1/me", {"HTTP_AUTHORIZATION": f"Bearer {token}"}),
    ]
    for label, client, path, extra in cases:
        client.get(path, **extra)  # warm caches (templates, URL resolver, translations)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path, **extra)
        # Read them now: the next request clears the connection's query log.
        queries = [q["sql"] for q in captured.captured_queries]
        if response.status_code != 200:
            raise HarnessError(f"{label} returned {response.status_code}")
        t0 = time.perf_counter()
        for _ in range(args.repeat):
            client.get(path, **extra)
        per_request = (time.perf_counter() - t0) / args.repeat * 1000
        print(
            f"{label:<16} {len(queries):>3} queries  "
            f"{per_request:6.2f} ms/request in-process  {len(response.content)} bytes"
        )
        if args.sql:
            for sql in queries:
                print(f"    {sql[: args.width]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["small", "chain", "large"], default="chain")
    parser.add_argument("--repeat", type=int, default=200, help="requests timed per URL")
    parser.add_argument("--sql", action="store_true", help="print each query")
    parser.add_argument("--width", type=int, default=300, help="characters of SQL shown")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    args = parser.parse_args(argv)
    status = in_process("queries", args.scale, args.keep, lambda: profile(args))
    return status


if __name__ == "__main__":
    sys.exit(main())
