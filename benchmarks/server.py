"""Prepare a throw-away AutoCRM instance, run ``autocrm serve`` and sign in to it."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

HOST = "127.0.0.1"


class HarnessError(Exception):
    """The benchmark could not be set up or run; the message says why."""


def autocrm_command() -> list[str]:
    """The ``autocrm`` console script next to this interpreter (the project venv)."""
    script = Path(sys.executable).with_name("autocrm")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "autocrm.cli"]


def bench_env(data_dir: Path) -> dict[str, str]:
    """Environment for every ``autocrm`` call: a fresh AUTOCRM_VAR, production-like flags.

    DATABASE_URL and REDIS_URL are passed through when the user set them."""
    env = os.environ.copy()
    env["AUTOCRM_VAR"] = str(data_dir)
    env["AUTOCRM_DEBUG"] = "0"
    env["AUTOCRM_TESTING"] = "0"
    env.pop("AUTOCRM_HUEY_IMMEDIATE", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def redact_url(url: str) -> str:
    """A database URL with any password hidden."""
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return url


def run_step(args: list[str], env: dict[str, str], timeout: float = 600) -> float:
    """Run one ``autocrm`` command to completion; returns its wall time in seconds."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [*autocrm_command(), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"`autocrm {' '.join(args)}` took longer than {timeout:.0f} s") from exc
    if proc.returncode != 0:
        raise HarnessError(
            f"`autocrm {' '.join(args)}` failed (exit {proc.returncode}):\n"
            f"{proc.stdout[-2000:]}{proc.stderr[-4000:]}"
        )
    return time.perf_counter() - t0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Server:
    """``autocrm serve`` in its own session, so it and its children can always be stopped."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path, extra: list[str]) -> None:
        self.port = port
        self.log_path = log_path
        self.command = [*autocrm_command(), "serve", "--host", HOST, "--port", str(port), *extra]
        self._log = log_path.open("wb")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            self.command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(
        self, path: str = "/login/", interval: float = 0.02, limit: float = 120
    ) -> float:
        """Seconds from Popen until the first 200 for ``path`` (polled every ``interval``)."""
        deadline = self.started + limit
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise HarnessError(
                    f"`autocrm serve` exited with {self.proc.returncode} before it was ready:\n"
                    + self.log_tail()
                )
            conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    return time.perf_counter() - self.started
            except OSError:
                pass
            finally:
                conn.close()
            time.sleep(interval)
        raise HarnessError(f"no 200 from {path} within {limit:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 25) -> None:
        """SIGTERM to ``autocrm serve`` (it stops gunicorn and the worker); SIGKILL if stuck."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        # Anything left in the session (e.g. an orphaned gunicorn worker) is killed outright.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.wait(timeout=5)
        self._log.close()


@dataclass
class Client:
    """A tiny synchronous cookie-keeping client for the sign-in steps."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        all_headers = {"Host": f"{HOST}:{self.port}", **(headers or {})}
        if self.cookies:
            all_headers["Cookie"] = self.cookie_header()
        try:
            conn.request(method, path, body=body, headers=all_headers)
            response = conn.getresponse()
            data = response.read()
            for raw in response.headers.get_all("Set-Cookie") or []:
                jar = SimpleCookie()
                jar.load(raw)
                for name, morsel in jar.items():
                    self.cookies[name] = morsel.value
            return response.status, dict(response.headers.items()), data
        finally:
            conn.close()


CSRF_INPUT = re.compile(
    rb'name="csrfmiddlewaretoken"\s+value="([^"]+)"|value="([^"]+)"\s+name="csrfmiddlewaretoken"'
)


def web_login(port: int, username: str, password: str) -> Client:
    """Sign in through the login form; the returned client holds sessionid and csrftoken."""
    client = Client(port)
    status, _, page = client.request("GET", "/login/")
    if status != 200:
        raise HarnessError(f"GET /login/ returned {status}")
    match = CSRF_INPUT.search(page)
    if not match or "csrftoken" not in client.cookies:
        raise HarnessError("no CSRF token on the login page")
    form = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": (match.group(1) or match.group(2)).decode(),
            "username": username,
            "password": password,
            "next": "",
        }
    ).encode()
    base = f"http://{HOST}:{port}"
    status, headers, _ = client.request(
        "POST",
        "/login/",
        body=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Referer": f"{base}/login/",
            "Origin": base,
        },
    )
    if status != 302 or "sessionid" not in client.cookies:
        raise HarnessError(f"sign-in as {username} failed: status {status}, no session cookie")
    status, _, page = client.request("GET", "/")
    if status != 200 or b'name="password"' in page:
        raise HarnessError(f"GET / after sign-in returned {status} (not signed in?)")
    return client


def api_token(port: int, username: str, password: str) -> str:
    """A personal API token from POST /api/v1/auth/token, checked against /api/v1/me."""
    client = Client(port)
    body = json.dumps({"username": username, "password": password, "name": "bench"}).encode()
    status, _, data = client.request(
        "POST", "/api/v1/auth/token", body=body, headers={"Content-Type": "application/json"}
    )
    if status not in (200, 201):
        raise HarnessError(f"POST /api/v1/auth/token returned {status}: {data[:200]!r}")
    token = json.loads(data)["token"]
    status, _, data = client.request(
        "GET", "/api/v1/me", headers={"Authorization": f"Bearer {token}"}
    )
    if status != 200 or json.loads(data).get("username") != username:
        raise HarnessError(f"GET /api/v1/me with the new token returned {status}")
    return token


def reused_data() -> Path | None:
    """``AUTOCRM_BENCH_DATA``: a data directory that already holds the demo at the wanted
    scale (e.g. kept by ``archive.py --keep``), used as it is instead of loading a new one; the
    ``large`` demo takes minutes. With PostgreSQL, ``AUTOCRM_BENCH_DATABASE_URL`` names the
    loaded database. The benchmarks that write (settling, moving cards) add to that data."""
    path = os.environ.get("AUTOCRM_BENCH_DATA")
    if not path:
        return None
    data_dir = Path(path).resolve()
    if not data_dir.is_dir():
        raise SystemExit(f"AUTOCRM_BENCH_DATA={path}: no such directory")
    return data_dir


def in_process(name: str, scale: str, keep: bool, measure, *, load_timeout: float = 600) -> int:
    """Load the demo at ``scale`` into a throw-away AUTOCRM_VAR, point this process's Django at
    it and call ``measure()``. Returns 2 when the harness failed, 1 when ``measure()`` returned
    False (a target missed), else 0. The data directory is removed unless ``keep``."""
    root = Path(__file__).resolve().parent.parent
    reused = reused_data()
    if reused:
        data_dir, keep = reused, True
        print(f"reusing the loaded data in {data_dir} (AUTOCRM_BENCH_DATA)", flush=True)
    else:
        data_dir = root / "var" / "bench" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        data_dir.mkdir(parents=True)
    env = bench_env(data_dir)
    try:
        if not reused:
            run_step(["demo", "--scale", scale, "--no-serve"], env, timeout=load_timeout)
        run_step(["manage", "collectstatic", "--noinput", "-v", "0"], env)
        for key in ("AUTOCRM_VAR", "AUTOCRM_DEBUG", "AUTOCRM_TESTING"):
            os.environ[key] = env[key]
        os.environ.pop("AUTOCRM_HUEY_IMMEDIATE", None)
        os.environ["DJANGO_SETTINGS_MODULE"] = "autocrm.settings"
        import django

        django.setup()
        return 0 if measure() is not False else 1
    except HarnessError as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return 2
    finally:
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)


class PgDatabase:
    """A throw-away PostgreSQL database created and dropped with psql."""

    def __init__(self, admin_url: str, name: str) -> None:
        self.admin_url = admin_url
        self.name = name
        parts = urllib.parse.urlsplit(admin_url)
        self.url = urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))
        self.created = False

    def psql(self, sql: str, timeout: float = 60) -> str:
        try:
            proc = subprocess.run(
                ["psql", self.admin_url, "-v", "ON_ERROR_STOP=1", "-Atqc", sql],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise HarnessError(f"psql failed: {exc}") from exc
        if proc.returncode != 0:
            raise HarnessError(f"psql {sql!r} failed: {proc.stderr.strip()[-500:]}")
        return proc.stdout.strip()

    def reachable(self) -> str:
        """'' when psql can connect, else why not."""
        try:
            self.psql("SELECT 1", timeout=15)
        except HarnessError as exc:
            return str(exc)
        return ""

    def create(self) -> None:
        self.psql(f'CREATE DATABASE "{self.name}"')
        self.created = True

    def drop(self) -> None:
        if self.created:
            self.psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)', timeout=120)
            self.created = False
