"""``autocrm import customers FILE``: summary line and exit status 0 / 1 / 2."""

from __future__ import annotations

from autocrm import cli
from autocrm.core.models import AuditLog
from autocrm.customers.models import Customer
from tests.imports.files import SAMPLE, read_report, xlsx

GOOD = [row for row in SAMPLE if row[0] not in ("王五", "赵六")]


def test_all_rows_imported_exit_0(world, tmp_path, capsys):
    code = cli.main(
        [
            "import",
            "customers",
            str(xlsx(tmp_path / "a.xlsx", GOOD)),
            "--store",
            "bj-cy",
            "--user",
            "sa-a1",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "rows: 5, created: 4, updated: 0, rejected: 0" in out
    assert Customer.objects.filter(home_store=world.a1).count() == 3
    entry = AuditLog.objects.filter(source="import", object_type="customers.Customer").first()
    assert entry.user_id == world.advisor_a1.pk


def test_rejected_rows_exit_1_with_report(world, tmp_path, capsys):
    report = tmp_path / "out" / "report.xlsx"
    report.parent.mkdir()
    code = cli.main(
        [
            "import",
            "customers",
            str(xlsx(tmp_path / "a.xlsx", SAMPLE)),
            "--store",
            "bj-cy",
            "--report",
            str(report),
        ]
    )
    assert code == 1
    assert "rows: 7, created: 4, updated: 0, rejected: 2" in capsys.readouterr().out
    assert [r[0] for r in read_report(report)["未导入"][1:]] == ["王五", "赵六"]
    entry = AuditLog.objects.filter(source="import").first()
    assert entry.user_id is None and entry.user_label.startswith("command line")
    # a second run finds everything already there
    assert cli.main(["import", "customers", str(tmp_path / "a.xlsx"), "--store", "bj-cy"]) == 1
    assert "created: 0, updated: 0, rejected: 2" in capsys.readouterr().out


def test_dry_run_changes_nothing(world, tmp_path, capsys):
    code = cli.main(
        [
            "import",
            "customers",
            str(xlsx(tmp_path / "a.xlsx", GOOD)),
            "--store",
            "bj-cy",
            "--dry-run",
        ]
    )
    assert code == 0 and "created: 4" in capsys.readouterr().out
    assert not Customer.objects.exists() and not AuditLog.objects.filter(source="import").exists()


def test_refused_or_unusable_exit_2(world, tmp_path, capsys):
    png = tmp_path / "photo.xlsx"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    assert cli.main(["import", "customers", str(png), "--store", "bj-cy"]) == 2
    assert "error" in capsys.readouterr().err
    good = str(xlsx(tmp_path / "a.xlsx", GOOD))
    assert (
        cli.main(["import", "customers", str(tmp_path / "missing.xlsx"), "--store", "bj-cy"]) == 2
    )
    assert cli.main(["import", "customers", good, "--store", "nowhere"]) == 2
    assert cli.main(["import", "customers", good]) == 2  # several stores: say which
    assert cli.main(["import", "customers", good, "--store", "tj-bj", "--user", "sa-a1"]) == 2
    assert cli.main(["import", "customers", good, "--user", "tech-a1"]) == 2  # may not import
    assert not Customer.objects.exists()


def test_only_store_of_the_user_is_the_default(world, tmp_path, capsys):
    code = cli.main(
        ["import", "customers", str(xlsx(tmp_path / "a.xlsx", GOOD)), "--user", "sa-a1"]
    )
    assert code == 0 and Customer.objects.filter(home_store=world.a1).count() == 3
