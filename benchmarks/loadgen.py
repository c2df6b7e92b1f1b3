"""A small, CPU-cheap HTTP/1.1 load generator on raw asyncio streams (loopback only)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from common import percentile

NO_BODY_STATUSES = {204, 304}


class ProtocolError(Exception):
    """The server sent something that is not a well-formed HTTP/1.x response."""


@dataclass
class RunStats:
    """Outcome of one load run. Latencies are kept for 200 responses only."""

    concurrency: int
    elapsed: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)
    connects: int = 0
    reconnects: int = 0
    bytes_read: int = 0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + sum(self.failures.values())

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def errors(self) -> int:
        return self.requests - self.ok

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, pct: float) -> float | None:
        """Nearest-rank percentile of the successful latencies, in ms."""
        return percentile(self.latencies_ms, pct)

    def error_detail(self) -> dict[str, int]:
        """Non-200 statuses and transport failures, e.g. {"302": 3, "timeout": 1}."""
        detail = {str(status): n for status, n in self.statuses.items() if status != 200}
        detail.update(self.failures)
        return detail


def build_request(
    host: str,
    port: int,
    path: str,
    headers: dict[str, str],
    keep_alive: bool = True,
    *,
    method: str = "GET",
    body: bytes = b"",
) -> bytes:
    """An encoded request (a GET by default), built once and reused for every send."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "User-Agent: autocrm-bench/1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body or method != "GET":
        lines.append(f"Content-Length: {len(body)}")
    lines.append(f"Connection: {'keep-alive' if keep_alive else 'close'}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _read_chunked(reader: asyncio.StreamReader) -> int:
    total = 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise ProtocolError(f"bad chunk size {size_line[:40]!r}") from exc
        if size == 0:
            # Trailers (normally none) end with an empty line.
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return total
        await reader.readexactly(size + 2)
        total += size


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool, int]:
    """Read one full response; returns (status, connection reusable, body bytes)."""
    head = await reader.readuntil(b"\r\n\r\n")
    end = head.find(b"\r\n")
    parts = head[:end].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"bad status line {head[:end][:60]!r}")
    status = int(parts[1])
    reusable = parts[0] != b"HTTP/1.0"
    length: int | None = None
    chunked = False
    for line in head[end + 2 : -4].split(b"\r\n"):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            token = value.strip().lower()
            if token == b"close":
                reusable = False
            elif token == b"keep-alive":
                reusable = True
    if status in NO_BODY_STATUSES or 100 <= status < 200:
        body = 0
    elif chunked:
        body = await _read_chunked(reader)
    elif length is not None:
        await reader.readexactly(length)
        body = length
    else:
        body = len(await reader.read())
        reusable = False
    return status, reusable, body


class _Slot:
    """One client's connection (or None); the owner closes it after a failure."""

    __slots__ = ("reader", "writer", "used")

    def __init__(self) -> None:
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used = False

    async def open(self, host: str, port: int, stats: RunStats) -> None:
        self.reader, self.writer = await asyncio.open_connection(host, port)
        self.used = False
        stats.connects += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _exchange(slot: _Slot, host: str, port: int, request: bytes, stats: RunStats) -> int:
    """Send ``request`` and read the reply; retries once if a kept-alive socket was stale."""
    for attempt in (1, 2):
        if slot.writer is None:
            await slot.open(host, port, stats)
        assert slot.reader is not None and slot.writer is not None
        reused = slot.used
        try:
            slot.writer.write(request)
            await slot.writer.drain()
            status, reusable, body = await read_response(slot.reader)
        except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError) as exc:
            slot.close()
            partial = getattr(exc, "partial", b"")
            # The server may close an idle kept-alive connection just as we reuse it:
            # nothing was answered, so a GET can safely be sent again on a new socket.
            if reused and attempt == 1 and not partial:
                stats.reconnects += 1
                continue
            raise
        stats.bytes_read += body
        slot.used = True
        if not reusable:
            slot.close()
        return status
    raise AssertionError("unreachable")


async def run_load(
    host: str,
    port: int,
    request: bytes | Callable[[], bytes | None],
    concurrency: int,
    duration: float,
    max_requests: int,
    timeout: float = 10.0,
    rate: float | None = None,
) -> RunStats:
    """``concurrency`` clients send ``request`` for ``duration`` seconds (or until
    ``max_requests`` were started), each over its own connection. ``request`` may be a
    function giving each next request (None: nothing left to send, the client stops).

    Without ``rate`` each client sends back to back (closed loop: the server's capacity).
    With ``rate`` (requests/s in total) each client sends on a fixed schedule and latency is
    counted from the scheduled time, so a slow answer is not hidden by a late next request."""
    stats = RunStats(concurrency=concurrency)
    started = 0
    clock = time.perf_counter
    begin = clock()
    deadline = begin + duration
    interval = concurrency / rate if rate else 0.0

    async def client(index: int) -> None:
        nonlocal started
        slot = _Slot()
        sent = 0
        offset = interval * index / concurrency
        try:
            while clock() < deadline and started < max_requests:
                data = request() if callable(request) else request
                if data is None:
                    break
                started += 1
                if interval:
                    t0 = begin + offset + sent * interval
                    sent += 1
                    await asyncio.sleep(max(0.0, t0 - clock()))
                else:
                    t0 = clock()
                try:
                    async with asyncio.timeout(timeout):
                        status = await _exchange(slot, host, port, data, stats)
                except TimeoutError:
                    stats.failures["timeout"] += 1
                except (OSError, asyncio.IncompleteReadError, ProtocolError, ValueError) as exc:
                    stats.failures[type(exc).__name__] += 1
                else:
                    stats.statuses[status] += 1
                    if status == 200:
                        stats.latencies_ms.append((clock() - t0) * 1000)
                    continue
                # A failed exchange leaves the socket in an unknown state: drop it, back off.
                slot.close()
                await asyncio.sleep(0.01)
        finally:
            slot.close()

    await asyncio.gather(*(client(i) for i in range(concurrency)))
    stats.elapsed = clock() - begin
    return stats
