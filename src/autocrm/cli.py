"""The ``autocrm`` command: one entry point for a shop PC and for operators of a chain."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

DESCRIPTION = """AutoCRM 汽车后市场客户管理系统 — customers, cars and visits for car service shops.

命令 / commands:
  serve        启动网站和后台任务（生产模式，gunicorn）/ run web server and worker (production)
  worker       只启动后台任务进程 / run the background worker only
  demo         建库、加载演示数据并启动 / create the database, load demo data and serve
  createadmin  创建第一个总部管理员 / create the first HQ administrator
  import       从 Excel/CSV 导入客户和车辆 / import customers and vehicles from Excel/CSV
  rules run    运行一次规则时间扫描 / run the rules' time scan once
  migrate      创建或升级数据库 / create or upgrade the database
  reports      重算报表日汇总 / rebuild the report rollups
  check        检查配置（--deploy 检查生产安全）/ check configuration (--deploy: production)
  compilemessages  编译界面翻译 / compile translations
  messages send    发送到期的消息一次 / deliver the due messages once
  manage       运行任意 Django 管理命令 / run any Django management command
"""


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autocrm.settings")
    import django

    django.setup()


def _call(*args, **kwargs) -> None:
    _setup_django()
    from django.core.management import call_command

    call_command(*args, **kwargs)


def _needs_migrate() -> bool:
    _setup_django()
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def _static_ready() -> bool:
    from django.conf import settings

    return (Path(settings.STATIC_ROOT) / "staticfiles.json").exists()


def _default_workers() -> int:
    return max(2, (os.cpu_count() or 1))


def cmd_serve(args) -> int:
    _setup_django()
    from django.conf import settings

    if _needs_migrate():
        print("数据库需要升级，正在迁移 / migrating the database …", flush=True)
        _call("migrate", interactive=False, verbosity=0)
    if not settings.DEBUG and not _static_ready():
        print("正在收集静态文件 / collecting static files …", flush=True)
        _call("collectstatic", interactive=False, verbosity=0)
    gunicorn = [
        sys.executable,
        "-m",
        "gunicorn",
        "autocrm.wsgi:application",
        "--bind",
        f"{args.host}:{args.port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
        "--threads",
        str(args.threads),
        "--preload",
        "--timeout",
        "60",
        "--graceful-timeout",
        "10",
        "--max-requests",
        "5000",
        "--max-requests-jitter",
        "500",
        "--access-logfile",
        "-" if args.access_log else "/dev/null",
        "--error-logfile",
        "-",
        "--log-level",
        "warning",
    ]
    procs: list[subprocess.Popen] = [subprocess.Popen(gunicorn)]  # noqa: S603
    if not args.no_worker:
        procs.append(subprocess.Popen([sys.executable, "-m", "autocrm.cli", "worker"]))  # noqa: S603
    print(
        f"AutoCRM 已启动 / running on http://{args.host}:{args.port}/  "
        f"(web workers: {args.workers}, background worker: {'off' if args.no_worker else 'on'})",
        flush=True,
    )
    return _supervise(procs)


def _supervise(procs: list[subprocess.Popen]) -> int:
    """Run children until one exits or we are told to stop; then stop them all."""
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    while not stopping:
        for proc in procs:
            if proc.poll() is not None:
                code = proc.returncode or 0
                stopping = True
                break
        time.sleep(0.2)
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + 15
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    return code


def cmd_worker(args) -> int:
    _setup_django()
    from django.conf import settings

    from autocrm.core import audit

    with audit.audit_context(source="task"):
        _call(
            "run_huey",
            workers=args.threads or settings.HUEY["consumer"]["workers"],
            worker_type="thread",
        )
    return 0


def cmd_demo(args) -> int:
    _setup_django()
    _call("migrate", interactive=False, verbosity=0)
    from autocrm.core import audit
    from autocrm.core.demo import DEMO_PASSWORD, load_demo

    with audit.audit_context(source="shell"):
        result = load_demo(args.scale)
    print(result.summary(), flush=True)
    print(f"\n演示账号 / demo logins (密码 / password: {DEMO_PASSWORD}):")
    for username, role in result.logins:
        print(f"  {username:<10} {role}")
    if args.no_serve:
        return 0
    print(f"\n打开 / open http://{args.host}:{args.port}/ ", flush=True)
    args.workers = args.workers or _default_workers()
    return cmd_serve(args)


def cmd_createadmin(args) -> int:
    _setup_django()
    import getpass

    from django.core.exceptions import ValidationError

    from autocrm.core import audit, services
    from autocrm.core.errors import ServiceError
    from autocrm.core.models import User

    if args.if_none and User.objects.filter(roles__code="hq_admin", is_active=True).exists():
        print("已有总部管理员 / an HQ administrator already exists.")
        return 0
    interactive = sys.stdin.isatty() and not args.noinput
    username = args.username or (
        input("登录名 / login name [admin]: ").strip() if interactive else ""
    )
    username = username or "admin"
    org_name = (
        args.org_name
        or (input("集团名称 / organization name [我的汽修]: ").strip() if interactive else "")
        or "我的汽修"
    )
    password = args.password or os.environ.get("AUTOCRM_ADMIN_PASSWORD", "")
    while not password:
        if not interactive:
            print(
                "需要密码：--password 或 AUTOCRM_ADMIN_PASSWORD / a password is required.",
                file=sys.stderr,
            )
            return 2
        first = getpass.getpass("密码 / password: ")
        if first == getpass.getpass("再输一次 / again: "):
            password = first
        else:
            print("两次不一致 / they differ.")
    try:
        with audit.audit_context(source="shell"):
            user = services.create_admin(
                org_name=org_name, org_code=args.org_code, username=username, password=password
            )
    except ValidationError as exc:
        print("密码太弱 / password rejected: " + " ".join(exc.messages), file=sys.stderr)
        return 2
    except ServiceError as exc:
        print(f"{exc.message}", file=sys.stderr)
        return 2
    print(f"已创建总部管理员 / created HQ administrator: {user.username} ({user.org.name})")
    return 0


def cmd_import(args) -> int:
    _setup_django()
    if _needs_migrate():
        print("数据库需要升级：autocrm migrate / run autocrm migrate first", file=sys.stderr)
        return 2
    from autocrm.imports.commands import run

    return run(args)


def cmd_reports(args) -> int:
    import datetime

    _setup_django()
    from autocrm.core import audit
    from autocrm.core.models import Store
    from autocrm.reports import figures
    from autocrm.reports.rollups import DEFAULT_WORKERS, rebuild

    try:
        start = datetime.date.fromisoformat(args.start) if args.start else None
        end = datetime.date.fromisoformat(args.end) if args.end else None
    except ValueError:
        print("日期格式应为 YYYY-MM-DD / dates are YYYY-MM-DD", file=sys.stderr)
        return 2
    if args.workers < 0:
        print("线程数不能为负 / --workers must be 0 or more", file=sys.stderr)
        return 2
    store_ids = None
    if args.store:
        store_ids = list(Store.objects.filter(code__in=args.store).values_list("pk", flat=True))
        if len(store_ids) != len(set(args.store)):
            print("找不到门店 / unknown store code", file=sys.stderr)
            return 2
    with audit.audit_context(source="shell"):
        rows = rebuild(store_ids, start, end, workers=args.workers or DEFAULT_WORKERS)
        kept = figures.refresh()
    print(f"已重算 {rows} 个门店日 / rebuilt {rows} store-days")
    print(f"已重算 {kept} 个期间指标 / refreshed {kept} period figures")
    return 0


def cmd_rules(args) -> int:
    """``autocrm rules run [--now ...]``: one time scan (with its retries); the last line of
    output is the summary ``rules: R, fired: N, messages: M, tasks: T``."""
    _setup_django()
    if _needs_migrate():
        print("数据库需要升级：autocrm migrate / run autocrm migrate first", file=sys.stderr)
        return 2
    from django.utils import timezone
    from django.utils.dateparse import parse_datetime

    from autocrm.automation import scan
    from autocrm.core import audit

    now = None
    if args.now:
        now = parse_datetime(args.now) or parse_datetime(f"{args.now}T00:00")
        if now is None:
            print(f"错误 / error: --now {args.now!r}: 例 / e.g. 2026-12-01T09:00", file=sys.stderr)
            return 2
        if timezone.is_naive(now):
            now = timezone.make_aware(now)  # Beijing time, like everything the shop sees
    with audit.audit_context(source="rule"):
        stats = scan.run_time_rules(now)
    print(stats.line(), flush=True)
    return 0


def cmd_migrate(args) -> int:
    _setup_django()
    from autocrm.core import audit

    with audit.audit_context(source="shell"):
        _call("migrate", interactive=False)
    return 0


def cmd_check(args) -> int:
    _call("check", deploy=args.deploy, fail_level="WARNING")
    print("配置正常 / configuration OK")
    return 0


def cmd_compilemessages(args) -> int:
    import polib

    # The project's catalogue and each app's own (apps keep their strings in <app>/locale/).
    root = Path(__file__).resolve().parent
    for po_path in sorted(root.glob("**/locale/*/LC_MESSAGES/*.po")):
        po = polib.pofile(str(po_path))
        po.save_as_mofile(str(po_path.with_suffix(".mo")))
        print(f"{po_path.relative_to(root)}: {po.percent_translated()}% translated")
    return 0


def cmd_messages(args) -> int:
    _setup_django()
    from autocrm.core import audit
    from autocrm.messaging import delivery

    with audit.audit_context(source="shell"):
        report = delivery.deliver_due(max_batches=args.max_batches)
    print(
        f"已发送 sent {report.sent} · 失败 failed {report.failed} · "
        f"稍后重试 retrying {report.retried} · 已拦截 suppressed {report.suppressed} · "
        f"推迟到免打扰时段后 deferred {report.deferred} · "
        f"{report.batches} 批 batches · {report.seconds:.1f} s"
    )
    for channel, count in sorted(delivery.waiting_by_hand().items()):
        print(f"  {channel}: {count} 条待手工发送（未配置服务商）/ waiting to be sent by hand")
    return 0


def cmd_manage(args) -> int:
    _setup_django()
    from django.core.management import execute_from_command_line

    from autocrm.core import audit

    with audit.audit_context(source="shell"):
        execute_from_command_line(["autocrm manage", *args.rest])
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autocrm", description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>")

    def server_options(p, workers_default):
        p.add_argument(
            "--host",
            default=os.environ.get("AUTOCRM_HOST", "127.0.0.1"),
            help="监听地址 / address to listen on (default 127.0.0.1)",
        )
        p.add_argument(
            "--port",
            type=int,
            default=int(os.environ.get("AUTOCRM_PORT", 8000)),
            help="端口 / port (default 8000)",
        )
        p.add_argument(
            "--workers",
            type=int,
            default=workers_default,
            help="网站进程数 / web processes (default: number of CPU cores, at least 2)",
        )
        p.add_argument(
            "--threads",
            type=int,
            default=4,
            help="每个进程的线程数 / threads per web process (default 4)",
        )
        p.add_argument(
            "--worker-class",
            choices=["gthread", "sync"],
            default="gthread",
            help="网站进程类型 / gunicorn worker class (gthread copes with slow phones)",
        )
        p.add_argument(
            "--no-worker",
            action="store_true",
            help="不启动后台任务 / do not start the background worker",
        )
        p.add_argument("--access-log", action="store_true", help="打印访问日志 / print access log")

    p = sub.add_parser("serve", help="启动网站和后台任务 / run web and worker")
    server_options(p, _default_workers())
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("worker", help="只启动后台任务 / run the background worker")
    p.add_argument("--threads", type=int, default=0, help="并发任务数 / concurrent jobs")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("demo", help="加载演示数据并启动 / load demo data and serve")
    p.add_argument(
        "--scale",
        choices=["small", "chain", "large"],
        default="small",
        help="small: 1 家门店 / 1 store; chain: 30 家门店 / 30 stores; "
        "large: 200 家门店 / 200 stores",
    )
    p.add_argument("--no-serve", action="store_true", help="只加载不启动 / load only")
    server_options(p, 0)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("createadmin", help="创建总部管理员 / create the first HQ administrator")
    p.add_argument("--username")
    p.add_argument("--password", help="也可用环境变量 / or AUTOCRM_ADMIN_PASSWORD")
    p.add_argument("--org-name", dest="org_name")
    p.add_argument("--org-code", dest="org_code", default="hq")
    p.add_argument("--noinput", action="store_true", help="不提问 / never prompt")
    p.add_argument(
        "--if-none",
        dest="if_none",
        action="store_true",
        help="已有管理员时跳过 / skip when an HQ administrator exists",
    )
    p.set_defaults(func=cmd_createadmin)

    p = sub.add_parser("import", help="从 Excel/CSV 导入 / import from Excel/CSV")
    p.add_argument("what", choices=["customers"], help="导入什么 / what to import")
    p.add_argument("file", help="Excel (.xlsx) 或 CSV 文件 / the .xlsx or .csv file")
    p.add_argument("--dry-run", action="store_true", help="只检查不修改 / check only")
    p.add_argument("--store", help="门店代码 / store code (home store of new customers)")
    p.add_argument("--org", help="集团代码 / organization code (when there are several)")
    p.add_argument("--report", help="未导入行的报告 / write rejected rows to this .xlsx")
    p.add_argument("--user", help="记在此员工名下 / attribute the import to this login name")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("reports", help="报表日汇总 / report rollups")
    p.add_argument("action", choices=["rebuild"], help="rebuild: 重算日汇总 / recompute rollups")
    p.add_argument("--store", action="append", help="门店代码，可多次 / store code (repeatable)")
    p.add_argument("--from", dest="start", help="开始日期 / first day (YYYY-MM-DD)")
    p.add_argument("--to", dest="end", help="结束日期 / last day (YYYY-MM-DD)")
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="并行线程数，按月分配 / threads, a month each at a time (default: cores, up to 4)",
    )
    p.set_defaults(func=cmd_reports)

    p = sub.add_parser("rules", help="规则引擎 / the rules engine")
    rules_sub = p.add_subparsers(dest="rules_command", metavar="<action>", required=True)
    run = rules_sub.add_parser("run", help="运行一次时间扫描 / run the time scan once")
    run.add_argument(
        "--now",
        help="按此时间扫描（北京时间）/ scan as of this time, e.g. 2026-12-01T09:00",
    )
    run.set_defaults(func=cmd_rules)

    p = sub.add_parser("migrate", help="创建或升级数据库 / create or upgrade the database")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("check", help="检查配置 / check configuration")
    p.add_argument("--deploy", action="store_true", help="生产安全检查 / production checks")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("compilemessages", help="编译界面翻译 / compile translations")
    p.set_defaults(func=cmd_compilemessages)

    p = sub.add_parser("messages", help="消息 / messages: send")
    p.add_argument("action", choices=["send"], help="send: 发送到期的消息一次 / deliver due once")
    p.add_argument(
        "--max-batches", type=int, default=None, help="最多批数 / stop after this many batches"
    )
    p.set_defaults(func=cmd_messages)

    p = sub.add_parser("manage", help="Django 管理命令 / Django management command")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_manage)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
