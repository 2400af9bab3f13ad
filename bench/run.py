"""lambdapack against the baseline tools, same machine, same process tree.

    python bench/run.py [--runs 5] [--cold-runs 3] [--configs small,large] [--archs arm64,x86_64]

For each function (small: requests + pydantic + orjson; large: numpy +
pandas) and architecture (python3.11), it times whole processes, in
alternation, in four scenarios:

  cold    every cache empty (lambdapack's, uv's, pip's; no previous output)
  warm    caches full, one line of one source file changed
  no-op   nothing changed
  30-fn   a 30-function project where nothing changed (lambdapack vs the uv
          recipe run for 30 functions; the baseline runs once)

Baselines:
  pip     pip install --target T --platform manylinux... --only-binary=:all: --no-compile, cp, zip -r -X
  uv      uv pip install --target T --python-platform <arch>-manylinux_2_17 (uv's Lambda guide), cp, zip -r -X

It prints medians, the ratio lambdapack/baseline, zip sizes against
`zip -9 -X` of the same tree, and a `cp` of the final zip as the I/O floor;
the raw numbers go to bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # pip and uv, as the project's dev environment has them
#: lambdapack as users get it (a regular, not an editable, install), in its own venv
LAMBDAPACK = REPO / "bench" / ".venv" / "bin" / "lambdapack"
CONFIGS = {
    "small": ["requests", "pydantic", "orjson"],
    "large": ["numpy", "pandas"],
}
RUNTIME = "python3.11"
MACHINE = {"arm64": "aarch64", "x86_64": "x86_64"}

APP = '''"""A function of the benchmark."""

import json


def handler(event, context):
    return {"statusCode": 200, "body": json.dumps(event)}
'''


def sh(command: str, cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(["bash", "-c", command], cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def make_function(directory: Path, requirements: list[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "app.py").write_text(APP)
    for n in range(5):
        (directory / f"module{n}.py").write_text(f"VALUE = {n}\n" * 200)
    (directory / "requirements.txt").write_text("\n".join(requirements) + "\n")


def make_project(root: Path, names: list[str], arch: str, requirements: list[str]) -> None:
    if root.exists():
        shutil.rmtree(root)
    lines = [f'runtime = "{RUNTIME}"', f'architecture = "{arch}"', 'exclude = ["requirements.txt"]']
    for name in names:
        lines += [f"[functions.{name}]", f'source = "{name}"', 'handler = "app.handler"']
        make_function(root / name, requirements)
    root.mkdir(parents=True, exist_ok=True)
    (root / "lambdapack.toml").write_text("\n".join(lines) + "\n")


def recipe(tool: str, arch: str, fn: str, out: str) -> str:
    """The baseline recipe building fn/ into out, from a fresh target directory."""
    machine = MACHINE[arch]
    if tool == "pip":
        platforms = (
            " ".join(f"--platform manylinux_2_{n}_{machine}" for n in range(17, 27))
            + f" --platform manylinux2014_{machine}"
        )
        install = (
            f"{BIN}/python -m pip install --quiet --disable-pip-version-check --target $T "
            f"--implementation cp --python-version 3.11 --abi cp311 {platforms} "
            f"--only-binary=:all: --no-compile -r {fn}/requirements.txt"
        )
    else:
        install = (
            f"{BIN}/uv pip install --quiet --target $T --python-platform {machine}-manylinux_2_17 "
            f"--python-version 3.11 --only-binary :all: -r {fn}/requirements.txt"
        )
    return (
        f"T=$(mktemp -d) && {install} && cp -r {fn}/*.py $T/ && rm -f {out} && "
        f"(cd $T && zip -q -r -X {out} .) && rm -rf $T"
    )


def install_lambdapack() -> None:
    """(Re)install this checkout into bench/.venv, as `pip install lambdapack` would."""
    venv = LAMBDAPACK.parent.parent
    if not venv.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--force-reinstall", "--no-deps", str(REPO)], check=True)
    subprocess.run([*pip, str(REPO)], check=True)


def _clean_environment() -> dict[str, str]:
    """The environment without the tools' settings, and with bytecode caching
    on (as on a developer's machine or CI runner), for every tool alike."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_", "LAMBDAPACK_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def bench_function(config: str, arch: str, args: argparse.Namespace, work: Path) -> dict[str, object]:
    base = work / f"{config}-{arch}"
    project = base / "project"
    make_project(project, ["fn"], arch, CONFIGS[config])
    fn = project / "fn"
    caches = {tool: base / f"cache-{tool}" for tool in ("lambdapack", "uv", "pip")}
    outputs = {"pip": base / "pip.zip", "uv": base / "uv.zip"}
    commands = {
        "lambdapack": f"{LAMBDAPACK} build -q -C {project}",
        "pip": recipe("pip", arch, str(fn), str(outputs["pip"])),
        "uv": recipe("uv", arch, str(fn), str(outputs["uv"])),
    }

    def env_for(tool: str, cache_root: Path) -> dict[str, str]:
        env = _clean_environment()
        env["UV_CACHE_DIR"] = str(cache_root / "uv")
        env["PIP_CACHE_DIR"] = str(cache_root / "pip")
        env["LAMBDAPACK_CACHE_DIR"] = str(cache_root / "lambdapack")
        return env

    times: dict[str, dict[str, list[float]]] = {
        s: {t: [] for t in commands} for s in ("cold", "warm", "no-op")
    }
    for _ in range(args.cold_runs):
        for tool, command in commands.items():
            cold = Path(tempfile.mkdtemp(dir=base, prefix="cold-"))
            shutil.rmtree(project / "dist", ignore_errors=True)
            times["cold"][tool].append(sh(command, base, env_for(tool, cold)))
            shutil.rmtree(cold)
    for tool, command in commands.items():  # fill the caches
        sh(command, base, env_for(tool, caches[tool]))
    for run in range(args.runs):
        for tool, command in commands.items():
            with (fn / "app.py").open("a") as f:
                f.write(f"# edit {tool} {run}\n")
            times["warm"][tool].append(sh(command, base, env_for(tool, caches[tool])))
    for _ in range(args.runs):
        for tool, command in commands.items():
            times["no-op"][tool].append(sh(command, base, env_for(tool, caches[tool])))

    ours = project / "dist" / "fn.zip"
    floor = [sh(f"cp {ours} {base / 'copy.zip'}", base, dict(os.environ)) for _ in range(args.runs)]
    tree = base / "tree"
    shutil.rmtree(tree, ignore_errors=True)
    with zipfile.ZipFile(ours) as zf:
        zf.extractall(tree)
    reference = base / "zip9.zip"
    reference.unlink(missing_ok=True)
    subprocess.run(["zip", "-q", "-r", "-9", "-X", str(reference), "."], cwd=tree, check=True)
    unzipped = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
    return {
        "config": config,
        "arch": arch,
        "times": times,
        "cp_floor": median(floor),
        "sizes": {
            "lambdapack": ours.stat().st_size,
            "uv": outputs["uv"].stat().st_size,
            "pip": outputs["pip"].stat().st_size,
            "zip -9 -X": reference.stat().st_size,
            "unzipped": unzipped,
        },
    }


def bench_thirty(args: argparse.Namespace, work: Path) -> dict[str, object]:
    base = work / "thirty"
    project = base / "project"
    names = [f"fn{n:02}" for n in range(30)]
    make_project(project, names, "arm64", CONFIGS["small"])
    env = _clean_environment()
    env["LAMBDAPACK_CACHE_DIR"] = str(base / "cache-lambdapack")
    env["UV_CACHE_DIR"] = str(base / "cache-uv")
    command = f"{LAMBDAPACK} build -q -C {project}"
    first = sh(command, base, env)
    noop = [sh(command, base, env) for _ in range(args.runs)]
    uv_all = " && ".join(recipe("uv", "arm64", str(project / n), str(base / f"{n}.zip")) for n in names)
    sh(recipe("uv", "arm64", str(project / names[0]), str(base / "warmup.zip")), base, env)
    baseline = sh(uv_all, base, env)
    return {"first_build": first, "no-op": noop, "uv_30_functions": baseline}


def report(results: list[dict[str, object]], thirty: dict[str, object] | None) -> list[str]:
    lines = []
    header = (
        f"{'function':<14} {'scenario':<7} {'lambdapack':>10} {'uv':>8} {'pip':>8} {'lp/uv':>7} {'lp/pip':>7}"
    )
    lines += [header, "-" * len(header)]
    for result in results:
        times = result["times"]  # type: ignore[index]
        for scenario in ("cold", "warm", "no-op"):
            m = {tool: median(values) for tool, values in times[scenario].items()}  # type: ignore[index]
            lines.append(
                f"{result['config'] + '/' + result['arch']:<14} {scenario:<7} {m['lambdapack']:>9.3f}s "
                f"{m['uv']:>7.3f}s {m['pip']:>7.3f}s {m['lambdapack'] / m['uv']:>7.3f} "
                f"{m['lambdapack'] / m['pip']:>7.3f}"
            )
    lines.append("")
    lines.append(
        f"{'function':<14} {'unzipped':>11} {'lambdapack':>11} {'zip -9 -X':>11} {'lp/zip9':>8} "
        f"{'uv zip':>11} {'cp floor':>9}"
    )
    for result in results:
        sizes = result["sizes"]  # type: ignore[index]
        lines.append(
            f"{result['config'] + '/' + result['arch']:<14} {sizes['unzipped']:>11,} "
            f"{sizes['lambdapack']:>11,} "
            f"{sizes['zip -9 -X']:>11,} {sizes['lambdapack'] / sizes['zip -9 -X']:>8.3f} "
            f"{sizes['uv']:>11,} {result['cp_floor']:>8.3f}s"
        )
    if thirty:
        noop = median(thirty["no-op"])  # type: ignore[arg-type]
        lines.append("")
        lines.append(
            f"30 functions (small/arm64): first build {thirty['first_build']:.2f}s, "
            f"no-op median {noop:.3f}s; "
            f"uv recipe for 30 functions (warm caches, 1 run) {thirty['uv_30_functions']:.2f}s; "
            f"ratio {noop / thirty['uv_30_functions']:.4f}"  # type: ignore[operator]
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="timed runs per tool for warm and no-op")
    parser.add_argument("--cold-runs", type=int, default=3, help="timed runs per tool with empty caches")
    parser.add_argument("--configs", default="small,large")
    parser.add_argument("--archs", default="arm64,x86_64")
    parser.add_argument("--no-thirty", action="store_true", help="skip the 30-function scenario")
    parser.add_argument("--workdir", type=Path, help="keep the work here (default: a temporary directory)")
    args = parser.parse_args()
    install_lambdapack()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="lambdapack-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for config in args.configs.split(","):
        for arch in args.archs.split(","):
            print(f"benchmarking {config}/{arch} ...", file=sys.stderr, flush=True)
            results.append(bench_function(config, arch, args, work))
    thirty = None if args.no_thirty else bench_thirty(args, work)
    lines = report(results, thirty)
    print("\n".join(lines))
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    document = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "args": {"runs": args.runs, "cold_runs": args.cold_runs},
        "functions": results,
        "thirty": thirty,
        "report": lines,
    }
    (out / "latest.json").write_text(json.dumps(document, indent=2, default=str) + "\n")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
