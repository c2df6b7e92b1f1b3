"""The ``autocrm`` command, configuration from the environment, and the real worker process.

These run the command as a separate process against a throw-away data directory, so they
exercise exactly what a shop PC runs."""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autocrm import cli

PYTHON = sys.executable


def run(args: list[str], env: dict, timeout: int = 60, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [PYTHON, "-m", "autocrm.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict:
    """A clean environment with its own data directory and the embedded SQLite default."""
    base = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "AUTOCRM_TESTING",
            "DJANGO_SETTINGS_MODULE",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    base.update(AUTOCRM_VAR=str(tmp_path / "var"), AUTOCRM_HUEY_IMMEDIATE="0")
    return base


def py(code: str, env: dict) -> str:
    script = (
        "import django, os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'autocrm.settings')\n"
    )
    script += "django.setup()\n" + code
    result = subprocess.run(  # noqa: S603
        [PYTHON, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_help_in_chinese_and_english():
    text = cli.build_parser().format_help()
    for word in ("serve", "worker", "demo", "createadmin", "migrate", "check"):
        assert word in text
    assert "启动网站和后台任务" in text and "run web server and worker" in text
    demo_help = cli.build_parser()._subparsers._group_actions[0].choices["demo"].format_help()
    assert "small" in demo_help and "200 家门店" in demo_help


def test_secret_key_generated_once_and_private(env):
    first = py("from django.conf import settings; print(settings.SECRET_KEY)", env)
    second = py("from django.conf import settings; print(settings.SECRET_KEY)", env)
    key_file = Path(env["AUTOCRM_VAR"]) / "secret_key"
    assert first == second == key_file.read_text().strip() and len(first) > 50
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


def test_environment_configuration(env):
    env = {
        **env,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/somewhere",
        "REDIS_URL": "redis://127.0.0.1:6379/3",
        "ALLOWED_HOSTS": "crm.example.com, 10.0.0.5",
        "MEDIA_ROOT": "/srv/media",
        "AUTOCRM_DEBUG": "1",
    }
    out = py(
        "from django.conf import settings as s; import json\n"
        "print(json.dumps([s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME'],"
        " s.HUEY['huey_class'], s.HUEY['url'], s.ALLOWED_HOSTS, str(s.MEDIA_ROOT), s.DEBUG]))",
        env,
    )
    assert json.loads(out) == [
        "django.db.backends.postgresql",
        "somewhere",
        "huey.PriorityRedisHuey",
        "redis://127.0.0.1:6379/3",
        ["crm.example.com", "10.0.0.5"],
        "/srv/media",
        True,
    ]


def test_sqlite_default_uses_wal(env):
    assert run(["migrate"], env).returncode == 0
    db = Path(env["AUTOCRM_VAR"]) / "autocrm.sqlite3"
    out = py(
        "from django.db import connection\n"
        "c = connection.cursor(); c.execute('PRAGMA journal_mode'); print(c.fetchone()[0])\n"
        "c.execute('PRAGMA foreign_keys'); print(c.fetchone()[0])",
        env,
    )
    assert out.split() == ["wal", "1"] and db.exists()


def test_check_deploy_passes_in_production_mode(env):
    prod = {
        **env,
        "AUTOCRM_HTTPS": "1",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "ALLOWED_HOSTS": "crm.example.com",
    }
    result = run(["check", "--deploy"], prod)
    assert result.returncode == 0, result.stdout + result.stderr
    # without HTTPS hardening the deploy check must fail: the test can fail
    assert run(["check", "--deploy"], env).returncode != 0


def test_createadmin_noninteractive_then_if_none(env):
    assert run(["migrate"], env).returncode == 0
    args = ["createadmin", "--username", "Boss", "--org-name", "王师傅汽修", "--noinput"]
    weak = run([*args, "--password", "123"], env)
    assert weak.returncode == 2 and "password" in weak.stderr
    missing = run(args, env)
    assert missing.returncode == 2
    ok = run([*args, "--password", "Qiche#2026"], env)
    assert ok.returncode == 0, ok.stderr
    again = run(["createadmin", "--if-none", "--noinput"], env)
    assert again.returncode == 0 and "already" in again.stdout
    rows = sqlite3.connect(Path(env["AUTOCRM_VAR"]) / "autocrm.sqlite3").execute(
        "SELECT source, user_label FROM core_auditlog WHERE object_type = 'core.User'"
    )
    assert ("shell", "") in set(rows)


def test_demo_small_is_deterministic(tmp_path, env):
    out = run(["demo", "--scale", "small", "--no-serve"], env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "manager1" in out.stdout and "demo1234" in out.stdout
    db = Path(env["AUTOCRM_VAR"]) / "autocrm.sqlite3"
    names = [
        r[0] for r in sqlite3.connect(db).execute("SELECT full_name FROM core_user ORDER BY id")
    ]
    other = {**env, "AUTOCRM_VAR": str(tmp_path / "second")}
    assert run(["demo", "--scale", "small", "--no-serve"], other, timeout=120).returncode == 0
    db2 = Path(other["AUTOCRM_VAR"]) / "autocrm.sqlite3"
    names2 = [
        r[0] for r in sqlite3.connect(db2).execute("SELECT full_name FROM core_user ORDER BY id")
    ]
    assert names == names2 and len(names) == 11
    rerun = run(["demo", "--scale", "small", "--no-serve"], env, timeout=120)
    assert "already" in rerun.stdout


def _wait_for(predicate, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    return predicate()


def _worker_round_trip(env: dict) -> None:
    """Start the real worker, see its heartbeat, queue a job that fails once, see it retried."""
    assert run(["migrate"], env).returncode == 0
    worker = subprocess.Popen(  # noqa: S603
        [PYTHON, "-m", "autocrm.cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        status = "from autocrm.core.jobs import worker_status; print(worker_status()['ok'])"
        assert _wait_for(lambda: py(status, env) == "True"), "no heartbeat from the worker"
        py("from autocrm.core.jobs import selfcheck\nselfcheck(fail_times=1)", env)
        runs = (
            "from autocrm.core.models import JobRun\n"
            "print(','.join(JobRun.objects.filter(name__endswith='selfcheck')"
            ".order_by('id').values_list('status', flat=True)))"
        )
        assert _wait_for(lambda: py(runs, env) == "retrying,complete", 30), py(runs, env)
    finally:
        worker.terminate()
        worker.wait(timeout=15)


def test_worker_on_sqlite(env):
    _worker_round_trip(env)
    assert (Path(env["AUTOCRM_VAR"]) / "huey.sqlite3").exists()


def test_worker_on_redis(env):
    queue = f"autocrm-test-{secrets.token_hex(4)}"
    _worker_round_trip({**env, "REDIS_URL": "redis://127.0.0.1:6379/15", "AUTOCRM_QUEUE": queue})
    assert not (Path(env["AUTOCRM_VAR"]) / "huey.sqlite3").exists()
