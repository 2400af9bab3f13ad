"""`lambdapack diff` on two 50 MB zips, against byte and content comparisons.

    .venv/bin/python bench/diff.py [--runs 7] [--entries 3000] [--workdir DIR]

Needs no network. It writes three zips of --entries members of 17 KiB of
random (incompressible) bytes each, stored, about 52 MB each, with
Python's zipfile:

  a.zip       a distribution `big 1.0` (every member listed in its RECORD) and an app.py
  b.zip       `big 2.0`: three members one byte longer, the dist-info renamed
  a-copy.zip  a copy of a.zip (the identical case)

and times, whole processes for the commands, in alternation, --runs times
(medians; the files are in the page cache after the first round):

  lambdapack diff          `lambdapack diff A B` (this interpreter's lambdapack), a process
  compare()                lambdapack.difference.compare(A, B) in this process
  cmp                      `cmp -s A B` (stops at the first differing byte)
  unzip -lv                `unzip -lv` of both (lists both central directories with CRCs)
  zipcmp                   `zipcmp A B` (libzip), when on PATH
  zipfile read all         Python's zipfile reading every member of both (CRCs checked)

each on (A, B) and on (A, a copy of A). The issue's target: `lambdapack
diff` of two 50 MB zips in at most 1 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAMBDAPACK = Path(sys.executable).parent / "lambdapack"


def _info(name: str) -> zipfile.ZipInfo:
    return zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # not the time of the call


def make(path: Path, entries: int, *, bump: bool) -> Path:
    chunk = os.urandom(17 * 1024)
    version = "2.0" if bump else "1.0"
    names = [f"big/m{i:05}.bin" for i in range(entries)]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for i, name in enumerate(names):
            longer = b"x" if bump and i % (entries // 3 or 1) == 0 else b""
            zf.writestr(_info(name), chunk + i.to_bytes(4, "little") + longer)
        record = "".join(f"{n},,\n" for n in names) + f"big-{version}.dist-info/RECORD,,\n"
        zf.writestr(_info(f"big-{version}.dist-info/RECORD"), record)
        zf.writestr(_info("app.py"), "def handler(event, context):\n    return 1\n")
    return path


def command(argv: list[str]) -> Callable[[], None]:
    def run() -> None:
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)

    return run


def in_process(a: Path, b: Path) -> Callable[[], None]:
    def run() -> None:
        from lambdapack.difference import compare

        compare(a, b)

    return run


def read_all(a: Path, b: Path) -> Callable[[], None]:
    def run() -> None:
        for path in (a, b):
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    with zf.open(info) as f:
                        while f.read(1 << 20):
                            pass

    return run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each tool and case")
    parser.add_argument("--entries", type=int, default=3000, help="members per zip")
    parser.add_argument("--workdir", type=Path, help="keep the zips here (default: a temporary directory)")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="lambdapack-bench-diff-"))
    work.mkdir(parents=True, exist_ok=True)
    a = make(work / "a.zip", args.entries, bump=False)
    b = make(work / "b.zip", args.entries, bump=True)
    same = work / "a-copy.zip"
    shutil.copyfile(a, same)

    tools: list[tuple[str, Callable[[Path, Path], Callable[[], None]]]] = [
        ("lambdapack diff", lambda x, y: command([str(LAMBDAPACK), "diff", str(x), str(y)])),
        ("compare()", in_process),
        ("cmp", lambda x, y: command(["cmp", "-s", str(x), str(y)])),
        ("unzip -lv", lambda x, y: command(["sh", "-c", f"unzip -lv '{x}' >/dev/null; unzip -lv '{y}'"])),
    ]
    if shutil.which("zipcmp"):
        tools.append(("zipcmp", lambda x, y: command(["zipcmp", str(x), str(y)])))
    tools.append(("zipfile read all", read_all))
    cases = {"A vs B": (a, b), "A vs copy of A": (a, same)}
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.runs):
        for case, (x, y) in cases.items():
            for name, make_run in tools:
                run = make_run(x, y)
                start = time.perf_counter()
                run()
                times.setdefault((name, case), []).append(time.perf_counter() - start)

    verdicts = {
        case: subprocess.run(
            [str(LAMBDAPACK), "diff", str(x), str(y)], capture_output=True, text=True, check=False
        )
        for case, (x, y) in cases.items()
    }
    size = a.stat().st_size
    print(f"two zips of {size / 1e6:.1f} MB ({args.entries:,} stored members of 17 KiB), {args.runs} runs")
    for case, done in verdicts.items():
        print(
            f"  {case}: exit {done.returncode}: {done.stdout.splitlines()[0] if done.stdout else done.stderr}"
        )
    rows = [("tool", *cases)]
    rows += [
        (name, *(f"{statistics.median(times[name, case]):.3f} s" for case in cases)) for name, _ in tools
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print()
    for i, row in enumerate(rows):
        print(
            "| "
            + " | ".join(
                c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths, strict=True))
            )
            + " |"
        )
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
