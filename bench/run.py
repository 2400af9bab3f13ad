"""lambdapack against the baseline tools, same machine, same process tree.

    python bench/run.py [--runs 5] [--cold-runs 3] [--configs small,large] [--archs arm64,x86_64]
                        [--only functions,thirty,20k,node,containers,slimming,layers,coldstart,bundling,
                               remote_cache]
                        [--ref GIT_REF]
                        [--workdir DIR]

For each function (small: requests + pydantic + orjson; large: numpy +
pandas) and architecture (python3.11), it times whole processes, in
alternation, in three scenarios (`functions`):

  cold    every cache empty (lambdapack's, uv's, pip's; no previous output)
  warm    caches full, one line of one source file changed
  no-op   nothing changed

and then, unless --only leaves them out:

  thirty  a 30-function project where nothing changed (lambdapack vs the uv
          recipe run for 30 functions; the baseline runs once)
  20k     one function (python3.12 arm64, no dependencies) whose source
          directory holds 20,000 small files (200 packages x 100 modules):
          first build (empty cache, no output), warm (one line of one file
          changed) and no-op, --runs times each, against the uv recipe's
          equivalent for a function without dependencies (cp -r of the tree +
          zip -r -X, once) and a `cp` of the zip; needs no network
          (`--only 20k` runs it alone)

and, only when --only names it:

  node    a Node.js function (nodejs20.x arm64, sharp + the DynamoDB client)
          against the npm recipe: see bench/node.py, which also runs alone
  containers
          an sdist with C code (mmh3 2.5.1, python3.11, x86_64 and arm64 as
          --archs says) compiled in the build image on a Docker Engine, against
          doing it by hand: see bench/containers.py, which also runs alone
  slimming
          what `slim` saves and costs (numpy + pandas, python3.11; sharp +
          the DynamoDB client, nodejs20.x; on --archs), against pip / npm +
          zip, and that the slimmed zips still import: see bench/slimming.py,
          which also runs alone (there with the architectures x86_64,arm64)
  layers  a function whose dependencies live in a layer (requests + pydantic,
          python3.11 x86_64) against the same function carrying them: cold,
          warm and no-op builds: see bench/layers.py, which also runs alone
          (there with 15 runs by default)
  coldstart
          the handler's import time from a read-only unpacked zip, with and
          without `bytecode = true` (pandas + pydantic, requests + boto3;
          python3.11 x86_64): see bench/coldstart.py, which also runs alone
  bundling
          a bundled TypeScript function (`bundle = true`: uuid + the DynamoDB
          document client, nodejs20.x arm64) against esbuild + zip by hand:
          cold, warm and no-op: see bench/bundling.py, which also runs alone
  remote_cache
          the S3 remote cache (numpy + pandas, python3.12 x86_64; moto on
          loopback): a cold build from a warm bucket against one without a
          remote, no-ops with the remote configured (no request), and an A/B
          of no-ops against the commit before the remote cache: see
          bench/remote_cache.py, which also runs alone

lambdapack is measured as users install it: a wheel built from a clean copy
of the working tree (or of --ref) is installed into bench/.venv each run.

Baselines:
  pip     pip install --target T --platform manylinux... --only-binary=:all: --no-compile, cp, zip -r -X
  uv      uv pip install --target T --python-platform <arch>-manylinux_2_17 (uv's Lambda guide), cp, zip -r -X

It prints medians, the ratio lambdapack/baseline, zip sizes against
`zip -9 -X` of the same tree, and a `cp` of the final zip as the I/O floor;
the raw numbers go to bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
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
BIN = Path(sys.executable).parent  # pip and uv, as the project's dev environment has them
#: lambdapack as users get it (a regular, not an editable, install), in its own venv
LAMBDAPACK = REPO / "bench" / ".venv" / "bin" / "lambdapack"
CONFIGS = {
    "small": ["requests", "pydantic", "orjson"],
    "large": ["numpy", "pandas"],
}
RUNTIME = "python3.11"
MACHINE = {"arm64": "aarch64", "x86_64": "x86_64"}
#: The scenarios run only when --only names them, each its own script bench/NAME.py
#: (bench_NAME(args, work) and report_NAME(result)), with what they measure.
NAMED_ONLY = {
    "node": "a Node.js function",
    "containers": "source builds in containers",
    "slimming": "slimming",
    "layers": "a function with a layer",
    "coldstart": "cold starts",
    "bundling": "a bundled TypeScript function",
    "remote_cache": "the remote cache (S3)",
}

APP = '''"""A function of the benchmark."""

import json


def handler(event, context):
    return {"statusCode": 200, "body": json.dumps(event)}
'''


def sh(command: str, cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(["bash", "-c", command], cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def sh_cpu(command: str, cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system, of the process tree) of ``command``:
    the CPU time varies less than the wall time on a busy machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = sh(command, cwd, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


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


#: Left out of the copy a wheel is built from: at the top of the repository,
#: what is not source (and setuptools' own output, build/: a file moved or
#: deleted in lambdapack/ stays in build/lib and would be packed again) ...
_NOT_SOURCE_TOP = {".git", ".venv", "build", "dist", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".cache"}
#: ... and anywhere.
_NOT_SOURCE_ANYWHERE = ("__pycache__", "*.egg-info", ".venv")


def _not_source(directory: str, names: list[str]) -> set[str]:
    ignored = set(shutil.ignore_patterns(*_NOT_SOURCE_ANYWHERE)(directory, names))
    if Path(directory) == REPO:
        ignored |= _NOT_SOURCE_TOP & set(names)
    return ignored


def save_results(name: str, *, args: dict[str, object], measured: object, results: dict[str, object]) -> None:
    """Write bench/results/NAME: the date, the machine, the arguments, which
    lambdapack was measured, the ``results`` (by scenario) and their report lines."""
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    document = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "args": args,
        "lambdapack": measured,
        **results,
    }
    (out / name).write_text(json.dumps(document, indent=2, default=str) + "\n")


def standalone_parser(doc: str, runs: int | None, cold_runs: int | None) -> argparse.ArgumentParser:
    """The options every scenario script takes when it runs alone (--runs and
    --cold-runs when given a default, --workdir, --ref); it adds its own."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if runs is not None:
        parser.add_argument("--runs", type=int, default=runs, help="timed runs of each warm scenario")
    if cold_runs is not None:
        parser.add_argument("--cold-runs", type=int, default=cold_runs, help="timed cold builds")
    parser.add_argument("--workdir", type=Path, help="keep the work here (default: a temporary directory)")
    parser.add_argument(
        "--ref",
        help="benchmark lambdapack as committed at this git ref (default: the working tree)",
    )
    return parser


def run_alone(
    name: str,
    args: argparse.Namespace,
    bench: Callable[[argparse.Namespace, Path], dict[str, object]],
    report: Callable[[dict[str, object]], list[str]],
    saved: dict[str, object],
) -> None:
    """What a scenario script does alone: install lambdapack (of --ref), run
    the scenario in --workdir or a temporary directory, print its report and
    write bench/results/NAME.json (``saved``: the arguments to record)."""
    install_lambdapack(args.ref)
    measured = _describe(args.ref)  # now: HEAD may move while the benchmark runs
    work = args.workdir or Path(tempfile.mkdtemp(prefix=f"lambdapack-bench-{name}-"))
    work.mkdir(parents=True, exist_ok=True)
    result = bench(args, work)
    lines = report(result)
    print("\n".join(lines))
    save_results(f"{name}.json", args=saved, measured=measured, results={name: result, "report": lines})
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


def install_lambdapack(ref: str | None = None, venv: Path | None = None) -> None:
    """(Re)install this working tree (or, with ``ref``, that commit of the
    repository) into bench/.venv (or the virtual environment ``venv``, made if
    missing), as `pip install lambdapack` would: a regular, not editable,
    install of a wheel built from a clean copy of the tree, then a check that
    the installed package is that tree's lambdapack/."""
    venv = venv or LAMBDAPACK.parent.parent
    if not venv.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "--disable-pip-version-check"]
    with tempfile.TemporaryDirectory(prefix="lambdapack-bench-install-") as tmp:
        source = Path(tmp) / "src"
        if ref is None:
            shutil.copytree(REPO, source, ignore=_not_source, symlinks=True)
        else:
            source.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(REPO), "archive", "--format=tar", ref], check=True, capture_output=True
            )
            subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
        subprocess.run([*pip, "wheel", "--quiet", "--no-deps", "-w", tmp, str(source)], check=True)
        (wheel,) = Path(tmp).glob("lambdapack-*.whl")
        subprocess.run([*pip, "install", "--quiet", "--force-reinstall", "--no-deps", str(wheel)], check=True)
        subprocess.run([*pip, "install", "--quiet", str(wheel)], check=True)  # dependencies
        located = subprocess.run(
            [python, "-c", "import lambdapack, os; print(os.path.dirname(lambdapack.__file__))"],
            check=True,
            capture_output=True,
            text=True,
            cwd=tmp,
        )
        _check_installed(Path(located.stdout.strip()), source / "lambdapack")


def install_extra(python: Path, extra: str) -> list[str]:
    """The requirements of lambdapack's ``extra``, installed into the venv of ``python``
    (what `pip install 'lambdapack[EXTRA]'` adds to the wheel's install)."""
    found = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m, re, sys\n"
            "for r in m.requires('lambdapack') or []:\n"
            "    if re.search(r'extra\\s*==\\s*.' + sys.argv[1] + '.', r): print(r.split(';')[0].strip())",
            extra,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    requirements = found.stdout.split()
    if not requirements:
        raise SystemExit(f"the installed lambdapack has no {extra} extra")
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "install", "--quiet"]
    subprocess.run([*pip, *requirements], check=True)
    return requirements


def _check_installed(installed: Path, tree: Path) -> None:
    """Fail unless the installed package holds exactly the tree's modules, byte for byte."""

    def files(root: Path) -> dict[str, bytes]:
        return {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and (p.suffix == ".py" or p.name == "py.typed")
        }

    got, want = files(installed), files(tree)
    if got != want:
        differ = sorted(n for n in got.keys() | want.keys() if got.get(n) != want.get(n))
        raise SystemExit(f"bench/.venv's lambdapack ({installed}) differs from the source: {differ[:10]}")


def _describe(ref: str | None) -> dict[str, object]:
    """Which lambdapack was measured: the commit, and whether the working tree differed from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    if ref is not None:
        return {"commit": git("rev-parse", f"{ref}^{{commit}}"), "source": f"git ref {ref}"}
    dirty = bool(git("status", "--porcelain", "--", "lambdapack", "pyproject.toml"))
    return {"commit": git("rev-parse", "HEAD"), "source": "working tree", "uncommitted_changes": dirty}


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


TWENTY_K_PACKAGES = 200
TWENTY_K_MODULES = 100  # per package, __init__.py included
#: Whole-process no-op of a 20,000-file function (the issue's target).
TWENTY_K_NOOP_TARGET = 0.3


def make_twenty_k(root: Path) -> int:
    """A project with one function, fn/, of 20,000 small modules plus app.py;
    returns the number of files in fn/."""
    if root.exists():
        shutil.rmtree(root)
    fn = root / "fn"
    fn.mkdir(parents=True)
    (fn / "app.py").write_text(APP)
    count = 1
    for p in range(TWENTY_K_PACKAGES):
        package = fn / f"pkg{p:03}"
        package.mkdir()
        for m in range(TWENTY_K_MODULES):
            name = "__init__.py" if m == 0 else f"mod{m:02}.py"
            body = (
                f'"""Module {m} of package {p}: one of the benchmark\'s small source files."""\n\n'
                f'NAME = "pkg{p:03}.mod{m:02}"\nVALUE = {p * 1000 + m}\n\n\n'
                f"def value() -> int:\n    return VALUE + {m}  # about two hundred bytes in all\n"
            )
            (package / name).write_text(body)
            count += 1
    (root / "lambdapack.toml").write_text(
        'runtime = "python3.12"\narchitecture = "arm64"\n\n'
        '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\n'
    )
    return count


def bench_twenty_k(args: argparse.Namespace, work: Path) -> dict[str, object]:
    """One function of 20,000 source files: first build, warm, no-op (whole
    processes), the uv recipe's equivalent once, and the cp floor."""
    base = work / "twenty-k"
    project = base / "project"
    files = make_twenty_k(project)
    fn, dist, cache = project / "fn", project / "dist", base / "cache-lambdapack"
    ours = dist / "fn.zip"
    env = _clean_environment()
    env["LAMBDAPACK_CACHE_DIR"] = str(cache)
    env["UV_CACHE_DIR"] = str(base / "cache-uv")
    command = f"{LAMBDAPACK} build -q -C {project}"

    cpu: dict[str, list[float]] = {"first": [], "warm": [], "no-op": []}

    def timed(scenario: str) -> float:
        wall, used = sh_cpu(command, base, env)
        cpu[scenario].append(used)
        return wall

    def first_build() -> float:
        shutil.rmtree(dist, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
        return timed("first")

    first = [first_build() for _ in range(args.runs)]
    edited = fn / f"pkg{TWENTY_K_PACKAGES // 2:03}" / f"mod{TWENTY_K_MODULES // 2:02}.py"
    warm = []
    for run in range(args.runs):
        before = ours.read_bytes()
        with edited.open("a") as f:
            f.write(f"# edit {run}\n")
        warm.append(timed("warm"))
        if ours.read_bytes() == before:
            raise SystemExit("20k: the warm build did not change the zip")
    written = ours.stat()
    noop = [timed("no-op") for _ in range(args.runs)]
    after = ours.stat()
    if (after.st_mtime_ns, after.st_ino) != (written.st_mtime_ns, written.st_ino):
        raise SystemExit("20k: a no-op build rewrote the zip")
    recipe_zip = base / "uv.zip"
    uv_recipe, uv_cpu = sh_cpu(
        f"T=$(mktemp -d) && cp -r {fn}/. $T/ && rm -f {recipe_zip} && "
        f"(cd $T && zip -q -r -X {recipe_zip} .) && rm -rf $T",
        base,
        env,
    )
    floor = [sh(f"cp {ours} {base / 'copy.zip'}", base, dict(os.environ)) for _ in range(args.runs)]
    with zipfile.ZipFile(ours) as zf:
        entries = len(zf.infolist())
    if entries != files:
        raise SystemExit(f"20k: the zip has {entries} entries, the function {files} files")
    return {
        "files": files,
        "source_bytes": sum(p.stat().st_size for p in fn.rglob("*") if p.is_file()),
        "times": {"first": first, "warm": warm, "no-op": noop},
        "cpu_times": cpu,
        "uv_recipe": uv_recipe,
        "uv_recipe_cpu": uv_cpu,
        "cp_floor": median(floor),
        "sizes": {"lambdapack": ours.stat().st_size, "uv": recipe_zip.stat().st_size},
        "target_noop": TWENTY_K_NOOP_TARGET,
    }


def report_twenty_k(twenty_k: dict[str, object]) -> list[str]:
    times, cpu = twenty_k["times"], twenty_k["cpu_times"]
    m = {scenario: median(values) for scenario, values in times.items()}  # type: ignore[attr-defined]
    c = {scenario: median(values) for scenario, values in cpu.items()}  # type: ignore[attr-defined]
    uv, uv_cpu = float(twenty_k["uv_recipe"]), float(twenty_k["uv_recipe_cpu"])  # type: ignore[arg-type]
    sizes = twenty_k["sizes"]
    runs = len(times["no-op"])  # type: ignore[index]
    verdict = "met" if m["no-op"] <= TWENTY_K_NOOP_TARGET else "NOT met"
    lines = [
        f"20k files: one function, {twenty_k['files']:,} source files "
        f"({twenty_k['source_bytes']:,} bytes), python3.12/arm64, no dependencies; "
        f"medians of {runs} runs (cpu = user + system time)",
        f"{'scenario':<10} {'lambdapack':>10} {'cpu':>8} {'uv recipe':>10} {'cpu':>8} {'lp/uv':>7}",
    ]
    lines.append("-" * len(lines[-1]))
    for scenario in ("first", "warm", "no-op"):
        lines.append(
            f"{scenario:<10} {m[scenario]:>9.3f}s {c[scenario]:>7.3f}s {uv:>9.3f}s {uv_cpu:>7.3f}s "
            f"{m[scenario] / uv:>7.3f}"
        )
    lines.append(
        f"uv recipe = cp -r + zip -r -X, 1 run; zip sizes: lambdapack {sizes['lambdapack']:,}, "  # type: ignore[index]
        f"uv recipe {sizes['uv']:,}; cp floor {twenty_k['cp_floor']:.3f}s; "  # type: ignore[index]
        f"target no-op <= {TWENTY_K_NOOP_TARGET} s: {verdict}"
    )
    return lines


def report(
    results: list[dict[str, object]],
    thirty: dict[str, object] | None,
    twenty_k: dict[str, object] | None = None,
) -> list[str]:
    lines: list[str] = []
    if results:
        lines += report_functions(results)
    if thirty:
        noop = median(thirty["no-op"])  # type: ignore[arg-type]
        lines.append("")
        lines.append(
            f"30 functions (small/arm64): first build {thirty['first_build']:.2f}s, "
            f"no-op median {noop:.3f}s; "
            f"uv recipe for 30 functions (warm caches, 1 run) {thirty['uv_30_functions']:.2f}s; "
            f"ratio {noop / thirty['uv_30_functions']:.4f}"  # type: ignore[operator]
        )
    if twenty_k:
        lines.append("")
        lines += report_twenty_k(twenty_k)
    while lines and not lines[0]:
        lines.pop(0)
    return lines


def report_functions(results: list[dict[str, object]]) -> list[str]:
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
    parser.add_argument(
        "--only",
        help="run only these scenarios, comma-separated, of: functions (the per-function table), "
        "thirty (30 functions), 20k (one function of 20,000 files; no network needed), "
        "node (a Node.js function against the npm recipe; only when named here), "
        "containers (an sdist compiled in the build image; needs a Docker Engine; only when named here), "
        "slimming (what `slim` saves and costs; only when named here), "
        "layers (a function with its dependencies in a layer; only when named here), "
        "coldstart (import time with and without target bytecode; only when named here), "
        "bundling (a bundled TypeScript function against esbuild + zip; only when named here), "
        "remote_cache (cold builds from a warm S3 remote cache on moto, no-ops with one configured; "
        "only when named here)",
    )
    parser.add_argument("--workdir", type=Path, help="keep the work here (default: a temporary directory)")
    parser.add_argument(
        "--ref",
        help="benchmark lambdapack as committed at this git ref (default: the working tree, "
        "uncommitted changes included)",
    )
    args = parser.parse_args()
    scenarios = {"functions", "thirty", "20k", *NAMED_ONLY}
    if args.only:
        selected = set(args.only.split(","))
    else:
        selected = scenarios - set(NAMED_ONLY) - ({"thirty"} if args.no_thirty else set())
    if selected - scenarios:
        parser.error(f"--only: unknown scenario(s) {', '.join(sorted(selected - scenarios))}")
    install_lambdapack(args.ref)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="lambdapack-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    if "functions" in selected:
        for config in args.configs.split(","):
            for arch in args.archs.split(","):
                print(f"benchmarking {config}/{arch} ...", file=sys.stderr, flush=True)
                results.append(bench_function(config, arch, args, work))
    thirty = None
    if "thirty" in selected:
        print("benchmarking 30 functions ...", file=sys.stderr, flush=True)
        thirty = bench_thirty(args, work)
    twenty_k = None
    if "20k" in selected:
        print("benchmarking one function of 20,000 files ...", file=sys.stderr, flush=True)
        twenty_k = bench_twenty_k(args, work)
    named: dict[str, object] = {}
    for scenario, what in NAMED_ONLY.items():  # each in its own script, bench/SCENARIO.py
        if scenario in selected:
            module = importlib.import_module(scenario)
            print(f"benchmarking {what} ...", file=sys.stderr, flush=True)
            named[scenario] = getattr(module, f"bench_{scenario}")(args, work)
    lines = report(results, thirty, twenty_k)
    for scenario, result in named.items():
        more = getattr(importlib.import_module(scenario), f"report_{scenario}")(result)
        lines += ["", *more] if lines else more
    print("\n".join(lines))
    save_results(
        "latest.json",
        args={"runs": args.runs, "cold_runs": args.cold_runs, "scenarios": sorted(selected)},
        measured=_describe(args.ref),
        results={
            "functions": results,
            "thirty": thirty,
            "twenty_k": twenty_k,
            **{scenario: named.get(scenario) for scenario in NAMED_ONLY},
            "report": lines,
        },
    )
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
