"""``autocrm rules run [--now ...]``: one time scan that ends with exactly one summary line."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys

import pytest

from autocrm import cli
from autocrm.automation.models import Task
from autocrm.messaging.models import MessageTemplate
from tests import customer_factories as cf
from tests.automation.rule_helpers import insurance_rule, make_rule

SUMMARY = "rules: {r}, fired: {n}, messages: {m}, tasks: {t}"


@pytest.mark.django_db
def test_summary_line_on_different_days(world, capsys):
    owner = cf.customer(world.a1, "张三", birthday=datetime.date(1990, 12, 2), consent_sms=True)
    cf.vehicle(owner, insurance_expires_on=datetime.date(2026, 12, 31))
    cf.vehicle(owner, insurance_expires_on=datetime.date(2027, 1, 1))
    insurance_rule(world, activated="2026-11-30")
    template = MessageTemplate.objects.create(
        org=world.org,
        name="生日",
        purpose="rule.birthday",
        kind="reminder",
        body="{customer_name}生日快乐",
    )
    make_rule(
        world,
        activated="2026-11-30",
        entity="customer",
        trigger={"type": "anniversary", "field": "customer.birthday"},
        actions=[{"type": "message", "template": template.pk}],
    )

    def run(now: str) -> str:
        assert cli.main(["rules", "run", "--now", now]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        return lines[-1]

    assert run("2026-12-01T08:00") == SUMMARY.format(r=2, n=0, m=0, t=0)
    assert run("2026-12-01T09:00") == SUMMARY.format(r=2, n=1, m=0, t=1)
    assert run("2026-12-01T09:00") == SUMMARY.format(r=2, n=0, m=0, t=0)  # run twice
    assert run("2026-12-02T09:30") == SUMMARY.format(r=2, n=2, m=1, t=1)
    assert Task.objects.count() == 2


@pytest.mark.django_db
def test_a_bad_time_is_refused(world, capsys):
    assert cli.main(["rules", "run", "--now", "1 December"]) == 2
    assert "--now" in capsys.readouterr().err


def test_a_fresh_install_prints_the_line(tmp_path):
    """The real command on an empty, just-migrated embedded database."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "AUTOCRM_TESTING", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(AUTOCRM_VAR=str(tmp_path / "var"), AUTOCRM_HUEY_IMMEDIATE="0")
    command = [sys.executable, "-m", "autocrm.cli"]
    subprocess.run([*command, "migrate"], env=env, capture_output=True, check=True, timeout=300)  # noqa: S603
    result = subprocess.run(  # noqa: S603
        [*command, "rules", "run"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == SUMMARY.format(r=0, n=0, m=0, t=0)
