"""Outbox delivery benchmark: 10 000 queued webhook messages to a local receiver that answers
500 to about 5 % of them on their first try.

Usage: .venv/bin/python benchmarks/messages.py [--messages 10000] [--fail-rate 0.05]
       [--workers 2] [--concurrency 16] [--batch 500] [--retry-seconds 1] [--keep]

Loads the small demo into a throw-away AUTOCRM_VAR (SQLite in WAL mode, production-like flags),
queues ``--messages`` webhook messages with one bulk insert, starts a receiver in its own
process on 127.0.0.1 (it checks every request's HMAC signature and timestamp, answers 500 to
the first try of a pseudo-random ``--fail-rate`` share of message ids and 200 otherwise, and
counts the 200s per message id), then runs ``--workers`` delivery runs in parallel threads
(``messaging.delivery.deliver_due``, as the worker's periodic task and ``autocrm messages send``
do) until nothing is left queued. Retries wait ``--retry-seconds`` (the back-off base; 60 s in
production). Prints the seconds to deliver all, the throughput, the retries made and the
duplicates seen by the receiver (a message id answered 200 more than once), which must be 0.
Target: all delivered within 60 s, no duplicates, none failed."""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import multiprocessing
import sys
import threading
import time
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from server import in_process

SECRET = "bench-webhook-secret"
TARGET_SECONDS = 60.0


def fails_first(message_id: int, rate: float) -> bool:
    digest = hashlib.sha256(f"bench:{message_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < rate


def receiver_main(port_queue, rate: float) -> None:
    """The receiver process: signature check, first-try failures, counts per message id."""
    lock = threading.Lock()
    ok: Counter = Counter()
    tries: Counter = Counter()
    stats = {"requests": 0, "errors_500": 0, "bad_signature": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # /stats
            with lock:
                body = json.dumps(
                    {**stats, "delivered": len(ok), "duplicates": sum(c - 1 for c in ok.values())}
                ).encode()
            self._answer(200, body)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            stamp = self.headers.get("X-AutoCRM-Timestamp", "")
            expected = hmac.new(
                SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256
            ).hexdigest()
            message_id = int(self.headers.get("X-AutoCRM-Message-Id", "0"))
            with lock:
                stats["requests"] += 1
                if (
                    not hmac.compare_digest(
                        self.headers.get("X-AutoCRM-Signature", ""), f"sha256={expected}"
                    )
                    or abs(time.time() - int(stamp or 0)) > 300
                ):
                    stats["bad_signature"] += 1
                    status = 401
                else:
                    tries[message_id] += 1
                    if tries[message_id] == 1 and fails_first(message_id, rate):
                        stats["errors_500"] += 1
                        status = 500
                    else:
                        ok[message_id] += 1
                        status = 200
            self._answer(status, b'{"id":"r-%d"}' % message_id if status == 200 else b"{}")

    class Server(ThreadingHTTPServer):
        request_queue_size = 256

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_queue.put(server.server_address[1])
    server.serve_forever(poll_interval=0.1)


def stats_of(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as response:
        return json.loads(response.read())


def run(args: argparse.Namespace, port: int) -> bool:
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from autocrm.core.models import Store
    from autocrm.messaging import delivery
    from autocrm.messaging.models import MessageAttempt, OutboxMessage

    settings.AUTOCRM_WEBHOOK = {"url": f"http://127.0.0.1:{port}/hook", "secret": SECRET}
    settings.AUTOCRM_MESSAGE_RETRY_SECONDS = args.retry_seconds
    settings.AUTOCRM_MESSAGE_BATCH = args.batch
    settings.AUTOCRM_MESSAGE_CONCURRENCY = args.concurrency
    settings.AUTOCRM_QUIET_HOURS = ""
    settings.AUTOCRM_SMS_PROVIDER = ""  # only the webhook channel is configured

    store = Store.objects.order_by("pk").first()
    OutboxMessage.objects.filter(status=OutboxMessage.Status.QUEUED).update(
        status=OutboxMessage.Status.CANCELLED  # the demo's own reminders are not part of it
    )
    now = timezone.now()
    t0 = time.perf_counter()
    OutboxMessage.objects.bulk_create(
        [
            OutboxMessage(
                org_id=store.org_id,
                store=store,
                channel="webhook",
                kind="transactional",
                to=f"139{i:08d}",
                purpose="bench.webhook",
                body=f"【{store.name}】您的爱车已完工，请来取车。#{i}",
                send_after=now,
                params=[],
            )
            for i in range(args.messages)
        ],
        batch_size=2000,
    )
    queued_in = time.perf_counter() - t0
    ids = set(OutboxMessage.objects.filter(purpose="bench.webhook").values_list("pk", flat=True))
    expected_failures = sum(fails_first(i, args.fail_rate) for i in ids)
    print(
        f"{args.messages} webhook messages queued in {queued_in:.1f} s; receiver on port {port} "
        f"fails the first try of {expected_failures} ({expected_failures / len(ids):.1%}); "
        f"{args.workers} delivery runs in parallel, {args.concurrency} sends in flight each, "
        f"batches of {args.batch}, retry back-off {args.retry_seconds} s"
    )

    reports, errors = [], []
    remaining = OutboxMessage.objects.filter(purpose="bench.webhook", status="queued")

    def worker():
        try:
            while True:
                report = delivery.deliver_due(max_seconds=args.timeout)
                reports.append(report)
                if not remaining.exists():
                    break
                if not report.handled:
                    time.sleep(0.2)  # retries are not due yet
                if time.perf_counter() - start > args.timeout:
                    break
        except Exception as exc:  # shown below
            errors.append(exc)
        finally:
            connection.close()

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(args.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    if errors:
        print(f"delivery failed: {errors[0]!r}", file=sys.stderr)
        return False

    received = stats_of(port)
    counts = Counter(
        OutboxMessage.objects.filter(purpose="bench.webhook").values_list("status", flat=True)
    )
    attempts = MessageAttempt.objects.filter(message__purpose="bench.webhook").count()
    retried = sum(r.retried for r in reports)
    sent = counts.get("sent", 0)
    print(f"{'delivered (sent)':<34} {sent}")
    print(f"{'failed / still queued':<34} {counts.get('failed', 0)} / {counts.get('queued', 0)}")
    print(f"{'seconds to deliver all':<34} {seconds:.1f}")
    print(f"{'messages per second':<34} {sent / seconds:.0f}")
    print(f"{'retries made (after a 500)':<34} {retried}")
    print(f"{'requests at the receiver':<34} {received['requests']}")
    answered = f"{received['errors_500']} / {received['bad_signature']}"
    print(f"{'500s answered / bad signatures':<34} {answered}")
    print(f"{'attempt rows recorded':<34} {attempts}")
    print(f"{'duplicates at the receiver':<34} {received['duplicates']}")
    ok = (
        seconds <= TARGET_SECONDS
        and received["duplicates"] == 0
        and sent == args.messages
        and received["delivered"] == args.messages
        and received["bad_signature"] == 0
    )
    print(
        f"target: all {args.messages} delivered in <= {TARGET_SECONDS:.0f} s with 0 duplicates: "
        f"{'PASS' if ok else 'MISS'}"
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--fail-rate", type=float, default=0.05)
    parser.add_argument("--workers", type=int, default=2, help="delivery runs in parallel")
    parser.add_argument("--concurrency", type=int, default=16, help="sends in flight per run")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--retry-seconds", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after (s)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    args = parser.parse_args(argv)

    ctx = multiprocessing.get_context("spawn")
    ports = ctx.Queue()
    receiver = ctx.Process(target=receiver_main, args=(ports, args.fail_rate), daemon=True)
    receiver.start()
    try:
        port = ports.get(timeout=30)
        status = in_process("messages", "small", args.keep, lambda: run(args, port))
    finally:
        receiver.terminate()
        receiver.join(10)
    return status if status == 2 or args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
