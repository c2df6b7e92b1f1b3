"""``autocrm import customers FILE``: a foreground import from the command line.

Exit status: 0 when every row was imported (or skipped as already there), 1 when some rows were
rejected (listed in ``--report``), 2 when the file is refused or cannot be read, or the options
do not name a usable store or user."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

OK, SOME_REJECTED, REFUSED = 0, 1, 2


def _fail(message: str) -> int:
    print(f"错误 / error: {message}", file=sys.stderr)
    return REFUSED


def run(args) -> int:
    from autocrm.core.errors import ServiceError
    from autocrm.core.models import Organization, Store, User
    from autocrm.imports import services
    from autocrm.imports.mapping import FIELD_LABELS

    path = Path(args.file)
    if not path.is_file():
        return _fail(f"文件不存在 / no such file: {path}")
    actor = None
    if args.user:
        actor = User.objects.filter(username=args.user.strip().lower(), is_active=True).first()
        if actor is None or actor.org_id is None:
            return _fail(f"没有这个员工 / no such active staff member: {args.user}")
    orgs = Organization.objects.filter(is_active=True)
    if actor is not None:
        orgs = orgs.filter(pk=actor.org_id)
    elif args.org:
        orgs = orgs.filter(code=args.org)
    stores = Store.objects.filter(org__in=orgs, is_active=True).select_related("org")
    if args.store:
        stores = stores.filter(code=args.store.strip().lower())
    elif actor is not None and services.allowed_store_ids(actor) is not None:
        stores = stores.filter(pk__in=services.allowed_store_ids(actor))
    candidates = list(stores[:2])
    if len(candidates) != 1:
        what = args.store or "--store"
        if not candidates:
            return _fail(f"没有这个门店 / no such store: {what}")
        return _fail("请用 --store 指定门店 / choose the store with --store (and --org)")
    store = candidates[0]
    label = actor.get_username() if actor else f"command line ({getpass.getuser()})"
    interactive = sys.stderr.isatty()

    def progress(totals) -> None:
        if interactive:
            print(f"\r{totals.rows} …", end="", file=sys.stderr, flush=True)

    try:
        totals, info, mapping = services.import_path(
            path,
            store=store,
            actor=actor,
            user_label=label,
            dry_run=args.dry_run,
            report_to=args.report,
            on_progress=progress,
        )
    except ServiceError as exc:
        if interactive:
            print(file=sys.stderr)
        message = exc.display_text
        return _fail(message)
    if interactive:
        print("\r", end="", file=sys.stderr)
    columns = ", ".join(
        f"{header}→{FIELD_LABELS[key]}"
        for header, key in zip(info.headers, mapping, strict=False)
        if key
    )
    print(f"列 / columns: {columns}", file=sys.stderr)
    if args.dry_run:
        print("试运行，未做任何修改 / dry run: nothing was changed", file=sys.stderr)
    print(totals.summary(), flush=True)
    print(
        f"skipped: {totals.skipped}, with warnings: {totals.warned}, "
        f"customers created: {totals.customers_created}, vehicles created: "
        f"{totals.vehicles_created}",
        file=sys.stderr,
    )
    if args.report and (totals.rejected or totals.warned):
        print(f"报告 / report: {args.report}", file=sys.stderr)
    return SOME_REJECTED if totals.rejected else OK
