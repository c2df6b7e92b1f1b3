"""Import benchmark: 100 000 customer rows from .xlsx and from .csv through `autocrm import`.

    .venv/bin/python benchmarks/import_bench.py [--rows 100000] [--keep] [--strict]

Writes a realistic shop export (title row, Chinese headers, mixed date formats, phones with
spaces and +86, ~5 % second cars on merged-looking rows, ~1 % bad mobiles, ~0.5 % duplicate
rows, half the cars with a VIN) with openpyxl's write-only mode and as UTF-8 CSV into a
temporary directory. For each file it creates a fresh data directory (`AUTOCRM_VAR`), loads
the small demo (`autocrm demo --scale small --no-serve`) and times
`autocrm import customers FILE --store s001 --report …` as a separate process; then imports the
.xlsx a second time into the same database (nothing may be created twice). Peak memory is the
child's high-water mark (VmHWM), as `wait4()` reports it in `ru_maxrss`; CPU seconds (user +
system) and the 1-minute load average at the start of each run are printed with it, since wall
time on a shared machine says little on its own. Memory should be flat: the peak at 100 000
rows close to the peak at 10 000 (compare two runs with `--rows`).

Target: 100 000 rows in at most 60 s. `--strict` exits 1 when it is missed. Uses
`DATABASE_URL` when set: each fresh run then gets its own database `<name>_bench_<run>` on
that PostgreSQL server, dropped at the end (kept with `--keep`)."""

from __future__ import annotations

import argparse
import datetime
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import samples
from common import run_measured

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

TARGET_SECONDS = 60.0
HEADERS = [
    "客户姓名",
    "手机号",
    "车牌号",
    "车架号",
    "品牌",
    "车型",
    "当前里程",
    "保险到期日",
    "年检到期",
    "生日",
    "性别",
    "微信",
    "会员等级",
    "客户来源",
    "备注",
]
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
)
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红玉兰文斌波宁"
CARS = [
    ("大众", "帕萨特"),
    ("丰田", "凯美瑞"),
    ("本田", "雅阁"),
    ("日产", "轩逸"),
    ("别克", "英朗"),
    ("宝马", "3系"),
    ("比亚迪", "秦PLUS"),
    ("特斯拉", "Model 3"),
]
PROVINCES = "沪苏浙粤川鄂湘鲁豫冀"  # not 京: the small demo's plates are 京
LEVELS = ["", "", "银卡", "金卡", "VIP"]
SOURCES = ["自然到店", "朋友介绍", "抖音", "美团/大众点评", "路过"]


def _date_text(day: datetime.date, rng: random.Random):
    style = rng.randrange(6)
    if style == 0:
        return day  # a real date cell
    if style == 1:
        return f"{day.year}/{day.month}/{day.day}"
    if style == 2:
        return day.strftime("%Y%m%d")
    if style == 3:
        return f"{day.year}年{day.month}月{day.day}日"
    if style == 4:
        return f"{day.year}.{day.month}.{day.day}"
    return day.isoformat()


def rows(count: int, seed: int = 20261124):
    """The data rows, generated (never held in memory as a whole)."""
    from autocrm.customers.validators import PLATE_CHARS, PLATE_LETTERS, VIN_CHARS
    from autocrm.customers.validators import vin_check_digit as check

    rng = random.Random(seed)  # noqa: S311 - benchmark data
    today = datetime.date(2026, 11, 1)
    previous = None
    for n in range(count):
        if previous is not None and rng.random() < 0.005:
            yield previous  # a duplicate row
            continue
        serial, letter = divmod(n, len(PLATE_LETTERS))
        body = "".join(PLATE_CHARS[(serial // 34**i) % 34] for i in range(4, -1, -1))
        plate = f"{PROVINCES[serial % len(PROVINCES)]}{PLATE_LETTERS[letter]}{body}"
        brand, model = rng.choice(CARS)
        vin = ""
        if rng.random() < 0.5:
            draft = "LSV" + "".join(rng.choice(VIN_CHARS) for _ in range(5)) + "0"
            draft += "".join(rng.choice(VIN_CHARS) for _ in range(2)) + f"{n:06d}"
            digit = check(draft) if rng.random() > 0.01 else "0"
            vin = draft[:8] + digit + draft[9:]
        km = rng.randrange(3_000, 250_000)
        insurance = _date_text(today + datetime.timedelta(days=rng.randrange(-200, 365)), rng)
        inspection = _date_text(today + datetime.timedelta(days=rng.randrange(0, 730)), rng)
        if previous is not None and rng.random() < 0.05:  # the same owner's next car
            row = [None, None, plate, vin, brand, model, km, insurance, inspection]
            row += [None] * (len(HEADERS) - len(row))
            yield row
            continue
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        mobile = f"1{rng.choice('3589')}{n:09d}"
        if rng.random() < 0.01:
            mobile = mobile[:7]  # a bad number
        elif rng.random() < 0.3:
            mobile = f"+86 {mobile[:3]} {mobile[3:7]} {mobile[7:]}"
        birthday = _date_text(
            datetime.date(rng.randrange(1960, 2004), rng.randrange(1, 13), 1), rng
        )
        row = [name, mobile, plate, vin, brand, model, km, insurance, inspection, birthday]
        row += [rng.choice("男女"), f"wx{n}", rng.choice(LEVELS), rng.choice(SOURCES)]
        row += ["老客户，常做保养" if rng.random() < 0.2 else None]
        previous = row
        yield row


def write_xlsx(path: Path, count: int) -> None:
    samples.write_xlsx(
        path, rows(count), HEADERS, title="安途汽修 客户资料导出", sheet="客户资料", streaming=True
    )


def write_csv(path: Path, count: int) -> None:
    samples.write_csv(path, rows(count), HEADERS)


def bench_env(var: Path) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_SETTINGS_MODULE", "AUTOCRM_TESTING", "AUTOCRM_HUEY_IMMEDIATE"}
    }
    env.update(AUTOCRM_VAR=str(var), AUTOCRM_DEBUG="0", AUTOCRM_TESTING="0")
    return env


def autocrm(*args: str) -> list[str]:
    return [sys.executable, "-m", "autocrm.cli", *args]


def timed(cmd: list[str], env: dict, log: Path) -> tuple[int, float, float, float, str]:
    """Run ``cmd``; return (exit status, seconds, peak RSS in MB, CPU seconds, stdout)."""
    run = run_measured(cmd, env, log)
    return run.returncode, run.seconds, run.peak_rss_mb, run.cpu_s, run.output


def _postgres(url: str, statement: str) -> None:
    import psycopg
    from psycopg import sql

    base = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL(statement).format(name=sql.Identifier(url.rsplit("/", 1)[1])))


def fresh_database(var: Path, env: dict) -> None:
    """A new data directory; on PostgreSQL also a new database (``<name>_bench_<run>``)."""
    if var.exists():
        shutil.rmtree(var)
    var.mkdir(parents=True)
    if env.get("DATABASE_URL", "").startswith("postgres"):
        url = env["DATABASE_URL"].split("?")[0] + f"_bench_{var.name.replace('-', '_')}"
        _postgres(url, "DROP DATABASE IF EXISTS {name}")
        _postgres(url, "CREATE DATABASE {name}")
        env["DATABASE_URL"] = url
    result = subprocess.run(  # noqa: S603
        autocrm("demo", "--scale", "small", "--no-serve"), env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"demo load failed:\n{result.stdout}\n{result.stderr}")


SUMMARY = re.compile(r"rows: (\d+), created: (\d+), updated: (\d+), rejected: (\d+)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="autocrm-import-bench-"))
    results = []
    envs: dict[str, dict] = {}
    try:
        files = {"xlsx": work / "customers.xlsx", "csv": work / "customers.csv"}
        for kind, path in files.items():
            start = time.perf_counter()
            (write_xlsx if kind == "xlsx" else write_csv)(path, args.rows)
            print(
                f"generated {path.name}: {path.stat().st_size / 1048576:.1f} MB "
                f"in {time.perf_counter() - start:.1f} s",
                flush=True,
            )
        runs = [
            ("xlsx", files["xlsx"], True),
            ("csv", files["csv"], True),
            ("xlsx again", files["xlsx"], False),
        ]
        for label, path, fresh in runs:
            var = work / f"var-{label.split()[0]}"
            if fresh:
                envs[var.name] = bench_env(var)
                fresh_database(var, envs[var.name])
            env = envs[var.name]
            cmd = autocrm(
                "import",
                "customers",
                str(path),
                "--store",
                "s001",
                "--report",
                str(work / f"report-{label.replace(' ', '-')}.xlsx"),
            )
            load = os.getloadavg()[0]
            code, seconds, rss, cpu, out = timed(cmd, env, work / f"{label.replace(' ', '-')}.log")
            match = SUMMARY.search(out)
            if match is None:
                print(out)
                raise SystemExit(f"{label}: no summary line (exit {code})")
            rows_, created, updated, rejected = (int(g) for g in match.groups())
            results.append(
                (label, rows_, created, updated, rejected, code, seconds, rss, cpu, load)
            )
            print(f"{label}: {match.group(0)} (exit {code}) in {seconds:.1f} s", flush=True)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
            for env in envs.values():
                if env.get("DATABASE_URL", "").startswith("postgres"):
                    _postgres(env["DATABASE_URL"], "DROP DATABASE IF EXISTS {name}")

    print()
    print(
        f"{'file':<12}{'rows':>9}{'created':>9}{'updated':>9}{'rejected':>9}{'exit':>6}"
        f"{'seconds':>9}{'rows/s':>9}{'peak RSS':>10}{'CPU s':>8}{'load':>6}"
    )
    for label, rows_, created, updated, rejected, code, seconds, rss, cpu, load in results:
        print(
            f"{label:<12}{rows_:>9}{created:>9}{updated:>9}{rejected:>9}{code:>6}"
            f"{seconds:>9.1f}{rows_ / seconds:>9.0f}{rss:>8.0f} MB{cpu:>8.1f}{load:>6.2f}"
        )
    slowest = max(r[6] for r in results)
    scaled = slowest * 100_000 / max(1, args.rows)
    verdict = "PASS" if scaled <= TARGET_SECONDS else "MISS"
    print(
        f"\ntarget: 100 000 rows in ≤ {TARGET_SECONDS:.0f} s — slowest run {slowest:.1f} s "
        f"({scaled:.1f} s per 100 000 rows): {verdict}"
    )
    again = next(r for r in results if r[0] == "xlsx again")
    first = next(r for r in results if r[0] == "xlsx")
    if again[2] or again[3]:
        print(f"re-import created {again[2]} and updated {again[3]} rows: expected none")
        return 1
    if first[4] == 0:
        print("no row was rejected: the benchmark data should contain bad rows")
        return 1
    return 1 if args.strict and verdict == "MISS" else 0


if __name__ == "__main__":
    sys.exit(main())
