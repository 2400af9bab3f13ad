"""Cold-start import time with and without target bytecode (``bytecode = true``), same machine.

    env -u PYTHONDONTWRITEBYTECODE .venv/bin/python bench/coldstart.py [--runs 7] [--workdir DIR]
    env -u PYTHONDONTWRITEBYTECODE .venv/bin/python bench/run.py --only coldstart [--runs 7]

On Lambda the task and layer directories are read-only: Python cannot write the
``.pyc`` it compiles, so every cold start compiles every module it imports.
This measures what that costs and what shipping target bytecode saves, the way
Lambda loads a function: for each function (python3.11, x86_64):

  pandas-pydantic  requirements pandas + pydantic; app.py imports both, defines
                   a pydantic model and builds a DataFrame at module level
  requests-boto3   requests + boto3 (shipped in the zip); app.py imports both
                   and makes an S3 client (no network call) at module level

lambdapack (installed from the working tree into bench/.venv, as run.py does)
builds the function twice: plain, and with ``bytecode = true``. Each zip is
unpacked into its own directory, made read-only (as /var/task is), and the
handler's module is imported by a fresh CPython 3.11 process (this machine's,
``-I -S -B``: no site-packages, no user paths, no bytecode writing) with the
directory first on sys.path; the process reports the time of ``import app``
(time.perf_counter around it) and is timed as a whole. --runs processes per
variant, alternating plain and bytecode, after one untimed run of each (so the
page cache holds both trees alike). It prints medians (and min/max), the ratio
plain / bytecode, and the zips' sizes; raw numbers go to
bench/results/coldstart.json.
"""

from __future__ import annotations

import argparse
import os
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from run import LAMBDAPACK, _clean_environment, _describe, install_lambdapack, median, save_results

FUNCTIONS = {
    "pandas-pydantic": (
        ["pandas", "pydantic"],
        """import pandas as pd
from pydantic import BaseModel


class Order(BaseModel):
    id: int
    amount: float


FRAME = pd.DataFrame({"a": [1, 2, 3]})


def handler(event, context):
    return Order(id=1, amount=float(FRAME["a"].sum())).model_dump()
""",
    ),
    "requests-boto3": (
        ["requests", "boto3"],
        """import boto3
import requests

S3 = boto3.client("s3", region_name="us-east-1")
SESSION = requests.Session()


def handler(event, context):
    return {"bucket": event.get("bucket"), "agent": SESSION.headers["User-Agent"]}
""",
    ),
}

_DRIVER = """
import sys, time
sys.path.insert(0, sys.argv[1])
start = time.perf_counter()
import app
print(time.perf_counter() - start)
"""


def build(name: str, bytecode: bool, work: Path, env: dict[str, str]) -> Path:
    requirements, app = FUNCTIONS[name]
    project = work / f"{name}-{'bytecode' if bytecode else 'plain'}"
    (project / "fn").mkdir(parents=True, exist_ok=True)
    (project / "fn" / "app.py").write_text(app)
    (project / "fn" / "requirements.txt").write_text("".join(f"{r}\n" for r in requirements))
    config = 'runtime = "python3.11"\narchitecture = "x86_64"\n'
    config += f"bytecode = {'true' if bytecode else 'false'}\n"
    config += '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\n'
    (project / "lambdapack.toml").write_text(config)
    subprocess.run([str(LAMBDAPACK), "build", "-q", "-C", str(project)], check=True, env=env)
    return project / "dist" / "fn.zip"


def unpack(zip_path: Path, task: Path) -> None:
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(task)
    for path in [task, *task.rglob("*")]:  # read-only, as /var/task is
        path.chmod(stat.S_IMODE(path.stat().st_mode) & ~0o222)


def cold_import(python: str, task: Path) -> tuple[float, float]:
    """(seconds of `import app`, seconds of the whole process)."""
    start = time.perf_counter()
    done = subprocess.run(
        [python, "-I", "-S", "-B", "-c", _DRIVER, str(task)], capture_output=True, text=True, check=False
    )
    total = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"importing app from {task} failed:\n{done.stderr}")
    return float(done.stdout.strip().splitlines()[-1]), total


def python311() -> str:
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    found = subprocess.run(["uv", "python", "find", "3.11"], capture_output=True, text=True, check=True)
    return found.stdout.strip()


def bench_coldstart(args: argparse.Namespace, work: Path) -> dict[str, object]:
    env = _clean_environment()
    python = python311()
    results: dict[str, object] = {}
    for name in FUNCTIONS:
        print(f"coldstart: {name} ...", file=sys.stderr, flush=True)
        zips = {variant: build(name, variant == "bytecode", work, env) for variant in ("plain", "bytecode")}
        tasks = {}
        for variant, zip_path in zips.items():
            tasks[variant] = work / f"{name}-{variant}-task"
            unpack(zip_path, tasks[variant])
        imports: dict[str, list[float]] = {"plain": [], "bytecode": []}
        processes: dict[str, list[float]] = {"plain": [], "bytecode": []}
        for variant in ("plain", "bytecode"):
            cold_import(python, tasks[variant])  # untimed: the page cache holds both trees
        for _ in range(args.runs):
            for variant in ("plain", "bytecode"):
                took, total = cold_import(python, tasks[variant])
                imports[variant].append(took)
                processes[variant].append(total)
        with zipfile.ZipFile(zips["bytecode"]) as archive:
            pycs = sum(1 for n in archive.namelist() if n.endswith(".pyc"))
        results[name] = {
            "imports": imports,
            "processes": processes,
            "zip_bytes": {v: p.stat().st_size for v, p in zips.items()},
            "pyc_files": pycs,
        }
    return results


def report_coldstart(results: dict[str, object]) -> list[str]:
    lines = [
        "Cold start (python3.11 x86_64, read-only task dir, fresh process each; seconds, median [min-max])",
        f"{'function':<16} {'variant':<9} {'import app':>22} {'whole process':>22} {'zip bytes':>12}",
    ]
    for name, measured in results.items():
        assert isinstance(measured, dict)
        for variant in ("plain", "bytecode"):
            imports, totals = measured["imports"][variant], measured["processes"][variant]
            lines.append(
                f"{name:<16} {variant:<9} "
                f"{median(imports):>8.3f} [{min(imports):.3f}-{max(imports):.3f}] "
                f"{median(totals):>8.3f} [{min(totals):.3f}-{max(totals):.3f}] "
                f"{measured['zip_bytes'][variant]:>12,}"
            )
        ratio = median(measured["imports"]["plain"]) / median(measured["imports"]["bytecode"])
        lines.append(
            f"{'':<16} plain/bytecode import: {ratio:.2f}x ({measured['pyc_files']:,} .pyc files shipped)"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--no-install", action="store_true", help="use bench/.venv's lambdapack as it is")
    args = parser.parse_args()
    if not args.no_install:
        install_lambdapack()
    with tempfile.TemporaryDirectory(prefix="lambdapack-coldstart-", dir=args.workdir) as tmp:
        try:
            results = bench_coldstart(args, Path(tmp))
        finally:
            for path in Path(tmp).rglob("*"):  # read-only trees: writable again, to be removed
                if path.is_dir():
                    path.chmod(0o755)
            Path(tmp).chmod(0o755)
    for line in report_coldstart(results):
        print(line)
    save_results(
        "coldstart.json",
        args={"runs": args.runs},
        measured=_describe(None),
        results={"coldstart": results},
    )


if __name__ == "__main__":
    os.umask(0o022)
    main()
