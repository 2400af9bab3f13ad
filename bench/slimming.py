"""What `slim` saves and what it costs, on real dependencies, against pip / npm + zip.

    env -u PYTHONDONTWRITEBYTECODE .venv/bin/python bench/slimming.py [--cold-runs 3] [--archs x86_64,arm64]
                                                 [--workdir DIR]
    env -u PYTHONDONTWRITEBYTECODE .venv/bin/python bench/run.py --only slimming [--cold-runs 3]

Needs the network (PyPI, the npm registry), llvm-strip-19 (`strip`), the
host's python3.11 and node, and for arm64 qemu-aarch64-static with the arm64
CPython and Node.js of tests/qemu (prepared on first use).

The functions, one project per language, architecture and variant:

  python  python3.11, numpy + pandas (unpinned, as run.py's large function),
          an app.py that uses both and a walkall.py (below)
  node    nodejs20.x, bench/node.py's package.json (sharp 0.33.5 +
          @aws-sdk/client-dynamodb), its package-lock.json written once by
          `lambdapack lock`, and an index.js that loads both and resizes an image

The variants (top-level `slim` in lambdapack.toml):

  plain   no slimming
  slim    python: ["tests", "stubs", "strip"]; node: ["tests", "stubs", "docs", "maps", "strip"]
  all     python only: every Python option, ["tests", "stubs", "metadata", "pycache", "strip"]

The baselines, sizes only (one run each):

  pip     run.py's pip recipe: pip install --target T --platform manylinux_2_17..2_26
          --only-binary=:all: --no-compile -r requirements.txt, cp *.py, zip -r -X
  npm     bench/node.py's recipe: npm ci --omit=dev --os=linux --cpu=CPU --libc=glibc, zip -qr -X

Sizes: a zip's bytes and its unzipped bytes (the sum of its entries'
file_size), "saved" against lambdapack plain. Sizes are deterministic: every
timed build of a variant must give the same zip, byte for byte (checked).

Times (the cost of slimming; strip runs llvm-strip on every native library):
each variant builds once untimed (filling uv's download cache, UV_CACHE_DIR,
and, for Node.js, lambdapack's npm cache), then --cold-runs rounds, the
variants alternating within a round, each a cold build: lambdapack's cache
emptied (for Node.js all but npm/, its download cache), no previous output.
Nothing is downloaded while timed, so plain against slim is the slimming.
Medians of whole-process wall times; cpu = user + system of the process tree.

Every import still works: each zip is unpacked read-only and its handler run
the way tests/pyrun.py and tests/noderun.py run handlers (x86_64: the host's
python3.11 -I -S -B / node; arm64: tests/qemu's arm64 CPython 3.11 / Node.js
under qemu-aarch64-static; there only the slimmed zips run, and
--no-arm64-node skips Node.js). Python: `import numpy, pandas`,
`pandas.DataFrame({'a': [1, 2]}).sum()`, `numpy.linalg.inv(numpy.eye(3))`;
on x86_64, besides, walkall.py imports every module of numpy and pandas the
zip holds (outside test directories), one after the other in one process,
in the plain zip and in each slimmed one; reported: the modules that import
from the plain zip and not from a slimmed one ("broken", with the error), and
any module a slimmed zip lacks or adds (the walk skips test directories, so
none should). The modules that fail in every zip alike (optional
dependencies: pytest, matplotlib ...) are counted. The handler must succeed;
a broken module does not stop the benchmark. Node.js: sharp makes a PNG and
resizes it to WebP.

It prints a table; the raw numbers go to bench/results/slimming.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path

from node import PACKAGE_JSON, SHARP
from node import environment as node_environment
from run import (
    LAMBDAPACK,
    REPO,
    median,
    recipe,
    run_alone,
    standalone_parser,
)

sys.path.insert(0, str(REPO / "tests"))
import noderun  # tests/noderun.py: runs a Node.js handler from a zip, as Lambda does
import pyrun  # tests/pyrun.py: runs a Python handler from a zip, as Lambda does

PY_RUNTIME = "python3.11"
NODE_RUNTIME = "nodejs20.x"
PY_REQUIREMENTS = ["numpy", "pandas"]
NPM_CPU = {"x86_64": "x64", "arm64": "arm64"}
VARIANTS = {
    "python": {
        "plain": [],
        "slim": ["tests", "stubs", "strip"],
        "all": ["tests", "stubs", "metadata", "pycache", "strip"],
    },
    "node": {
        "plain": [],
        "slim": ["tests", "stubs", "docs", "maps", "strip"],
    },
}

APP_PY = '''"""Uses numpy and pandas (bench/slimming.py); {"walk": true}: imports all their modules."""

import numpy
import pandas


def handler(event, context):
    total = int(pandas.DataFrame({"a": [1, 2]}).sum()["a"])
    inverse = numpy.linalg.inv(numpy.eye(3)).tolist()
    result = {"sum": total, "inv": inverse, "numpy": numpy.__version__, "pandas": pandas.__version__}
    if event.get("walk"):
        import walkall

        result["walk"] = walkall.walk(["numpy", "pandas"])
    return result
'''

WALKALL_PY = '''"""Imports every module of the named packages found beside this file
(outside directories named tests or test), in name order, in this process."""

import importlib
import os
import warnings


def modules(package):
    root = os.path.dirname(os.path.abspath(__file__))
    found = []
    for directory, dirs, files in os.walk(os.path.join(root, package)):
        dirs[:] = [
            d for d in dirs
            if d.isidentifier() and d not in ("tests", "test")
            and os.path.isfile(os.path.join(directory, d, "__init__.py"))
        ]
        dotted = os.path.relpath(directory, root).replace(os.sep, ".")
        for name in files:
            stem = name.split(".", 1)[0]
            if name == "__init__.py":
                found.append(dotted)
            elif (name.endswith(".py") or name.endswith(".so")) and stem.isidentifier():
                found.append(dotted + "." + stem)
    return sorted(set(found))


def walk(packages):
    names = [name for package in packages for name in modules(package)]
    failed = {}
    warnings.simplefilter("ignore")
    for name in names:
        try:
            importlib.import_module(name)
        except BaseException as error:  # SystemExit too: a module may call sys.exit
            message = str(error).splitlines()[0][:120] if str(error) else ""
            failed[name] = type(error).__name__ + ": " + message
    return {"modules": names, "failed": failed}
'''

INDEX_JS = """\
"use strict";
// Loads sharp (its addon and libvips) and the DynamoDB client; makes a PNG and resizes it to WebP.
const sharp = require("sharp");
const { DynamoDBClient } = require("@aws-sdk/client-dynamodb");

exports.handler = async (event) => {
  const client = new DynamoDBClient({ region: "us-east-1" });
  const png = await sharp({
    create: { width: 40, height: 30, channels: 3, background: { r: 255, g: 0, b: 0 } },
  }).png().toBuffer();
  const { info } = await sharp(png)
    .resize(event.width, event.height)
    .webp()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, format: info.format, sharp: sharp.versions.sharp,
           client: typeof client.send };
};
"""

_SLIM_LINE = re.compile(r"slimming saved ([\d,]+) bytes unzipped in ([\d,]+) file\(s\) \((.*)\)")


def run_timed(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall time, CPU time (user + system of the process tree) and output of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stdout}{done.stderr}")
    return (
        wall,
        (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        done.stdout + done.stderr,
    )


def slim_report(output: str) -> dict[str, object] | None:
    """The build's `info [slim]` line, parsed: bytes and files saved, and bytes by option."""
    match = _SLIM_LINE.search(output)
    if match is None:
        return None
    options = {}
    for part in match.group(3).split(", "):
        option, _, saved = part.rpartition(" ")
        options[option] = int(saved.replace(",", ""))
    return {
        "bytes": int(match.group(1).replace(",", "")),
        "files": int(match.group(2).replace(",", "")),
        "options": options,
        "line": match.group(0),
    }


def zip_summary(path: Path) -> dict[str, object]:
    with zipfile.ZipFile(path) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
    return {
        "bytes": path.stat().st_size,
        "unzipped": sum(i.file_size for i in infos),
        "files": len(infos),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


def dist_infos(path: Path) -> list[str]:
    """The distributions in a Python zip, as NAME-VERSION (from their .dist-info directories)."""
    with zipfile.ZipFile(path) as zf:
        found = {n.split("/", 1)[0] for n in zf.namelist()}
    found = {top for top in found if top.endswith(".dist-info")}
    return sorted(d.removesuffix(".dist-info") for d in found)


def npm_packages(path: Path) -> list[str]:
    """The packages in a Node.js zip, as NAME@VERSION (from node_modules/**/package.json)."""
    found = []
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if re.fullmatch(r"(?:node_modules/)((?:@[^/]+/)?[^/]+)/package\.json", name):
                manifest = json.loads(zf.read(name))
                found.append(f"{manifest.get('name')}@{manifest.get('version')}")
    return sorted(found)


def config(language: str, arch: str, options: list[str]) -> str:
    lines = [
        f'runtime = "{PY_RUNTIME if language == "python" else NODE_RUNTIME}"',
        f'architecture = "{arch}"',
    ]
    if options:
        lines.append("slim = [" + ", ".join(f'"{o}"' for o in options) + "]")
    handler = "app.handler" if language == "python" else "index.handler"
    lines += ["", "[functions.fn]", 'source = "fn"', f'handler = "{handler}"']
    if language == "python":
        lines.append('exclude = ["requirements.txt"]')
    return "\n".join(lines) + "\n"


def write_function(fn: Path, language: str, lock: Path | None) -> None:
    fn.mkdir(parents=True)
    if language == "python":
        (fn / "app.py").write_text(APP_PY)
        (fn / "walkall.py").write_text(WALKALL_PY)
        (fn / "requirements.txt").write_text("\n".join(PY_REQUIREMENTS) + "\n")
    else:
        (fn / "package.json").write_text(json.dumps(PACKAGE_JSON, indent=2) + "\n")
        (fn / "index.js").write_text(INDEX_JS)
        if lock is not None:
            shutil.copy2(lock, fn / "package-lock.json")


def node_lock(base: Path, env: dict[str, str]) -> Path:
    """package-lock.json for bench/node.py's package.json, written once by `lambdapack lock`."""
    project = base / "node-lock"
    shutil.rmtree(project, ignore_errors=True)
    write_function(project / "fn", "node", None)
    (project / "lambdapack.toml").write_text(config("node", "x86_64", []))
    run_timed([str(LAMBDAPACK), "lock", "-C", str(project)], env)
    return project / "fn" / "package-lock.json"


def baseline(language: str, arch: str, fn: Path, out: Path, base: Path, env: dict[str, str]) -> float:
    """The pip or npm recipe, once, into ``out``; its wall time (recorded, not reported: its
    download cache is cold for the first architecture and warm for the next)."""
    out.unlink(missing_ok=True)
    if language == "python":
        command = recipe("pip", arch, str(fn), str(out))
        cwd = base
    else:
        cwd = base / f"npm-recipe-{arch}"
        shutil.rmtree(cwd, ignore_errors=True)
        cwd.mkdir(parents=True)
        for name in ("package.json", "package-lock.json", "index.js"):
            shutil.copy2(fn / name, cwd / name)
        command = (
            "rm -rf build && mkdir build && cp package.json package-lock.json index.js build/ && cd build && "
            f"npm ci --omit=dev --os=linux --cpu={NPM_CPU[arch]} --libc=glibc && "
            f"zip -qr -X {out} ."
        )
    start = time.perf_counter()
    done = subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"slimming: the {language} baseline failed:\n{done.stdout}{done.stderr}")
    return time.perf_counter() - start


def check_python(zip_path: Path, arch: str, work: Path, walk: bool) -> dict[str, object]:
    os.environ.setdefault(
        "OPENBLAS_NUM_THREADS", "1"
    )  # pyrun's interpreter inherits it: one thread under qemu
    start = time.perf_counter()
    result = pyrun.run_handler(zip_path, "app.handler", {"walk": walk}, architecture=arch, work=work)
    assert isinstance(result, dict)
    if result["sum"] != 3 or result["inv"] != [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]:
        raise SystemExit(f"slimming: {zip_path} on {arch} computed {result}")
    return {**result, "seconds": time.perf_counter() - start}


def check_node(zip_path: Path, arch: str, work: Path) -> dict[str, object]:
    start = time.perf_counter()
    result = noderun.run_handler(
        zip_path, "index.handler", {"width": 16, "height": 12}, architecture=arch, work=work
    )
    assert isinstance(result, dict)
    if (result["width"], result["height"], result["format"]) != (16, 12, "webp"):
        raise SystemExit(f"slimming: {zip_path} on {arch} answered {result}")
    return {**result, "seconds": time.perf_counter() - start}


def compare_walks(walks: dict[str, dict[str, object]]) -> dict[str, object]:
    """The x86_64 walks of the slimmed zips against the plain zip's."""
    plain = walks["plain"]
    found: dict[str, object] = {
        "modules": len(plain["modules"]),  # type: ignore[arg-type]
        "imported": len(plain["modules"]) - len(plain["failed"]),  # type: ignore[arg-type]
        "failed_in_plain": plain["failed"],
    }
    for variant, walk in walks.items():
        if variant == "plain":
            continue
        missing = sorted(set(plain["modules"]) - set(walk["modules"]))  # type: ignore[arg-type]
        extra = sorted(set(walk["modules"]) - set(plain["modules"]))  # type: ignore[arg-type]
        broken = sorted(set(walk["failed"]) - set(plain["failed"]))  # type: ignore[arg-type]
        fixed = sorted(set(plain["failed"]) - set(walk["failed"]))  # type: ignore[arg-type]
        found[variant] = {
            "missing": missing,
            "extra": extra,
            "broken": {name: walk["failed"][name] for name in broken},  # type: ignore[index]
            "fixed": fixed,
        }
    return found


def bench_language(
    language: str, arch: str, args: argparse.Namespace, work: Path, lock: Path | None
) -> dict[str, object]:
    """Every variant of one function for one architecture (Node.js: with the ``lock``
    of :func:`node_lock`); see the module's docstring."""
    base = work / "slimming" / f"{language}-{arch}"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    env = node_environment()
    env["UV_CACHE_DIR"] = str(work / "slimming" / "cache-uv")
    env["PIP_CACHE_DIR"] = str(work / "slimming" / "cache-pip")
    env["npm_config_cache"] = str(work / "slimming" / "cache-npm-recipe")
    cache = base / "cache-lambdapack"
    lp_env = {**env, "LAMBDAPACK_CACHE_DIR": str(cache)}
    variants = VARIANTS[language]
    projects = {}
    for variant, options in variants.items():
        project = base / variant
        write_function(project / "fn", language, lock)
        (project / "lambdapack.toml").write_text(config(language, arch, options))
        projects[variant] = project

    def clear() -> None:
        if not cache.exists():
            return
        for entry in cache.iterdir():
            if language == "node" and entry.name == "npm":
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    def build(variant: str) -> tuple[float, float, str]:
        project = projects[variant]
        shutil.rmtree(project / "dist", ignore_errors=True)
        clear()
        return run_timed([str(LAMBDAPACK), "build", "-C", str(project)], lp_env)

    print(f"slimming {language}/{arch}: one untimed build of each variant ...", file=sys.stderr, flush=True)
    reports, shas = {}, {}
    for variant in variants:
        reports[variant] = slim_report(build(variant)[2])
        shas[variant] = zip_summary(projects[variant] / "dist" / "fn.zip")["sha256"]
    times: dict[str, list[float]] = {v: [] for v in variants}
    cpu: dict[str, list[float]] = {v: [] for v in variants}
    for run in range(args.cold_runs):
        print(f"slimming {language}/{arch}: cold round {run + 1} ...", file=sys.stderr, flush=True)
        for variant in variants:
            wall, used, output = build(variant)
            times[variant].append(wall)
            cpu[variant].append(used)
            if zip_summary(projects[variant] / "dist" / "fn.zip")["sha256"] != shas[variant]:
                raise SystemExit(f"slimming {language}/{arch}: {variant} gave another zip on run {run + 1}")
            if slim_report(output) != reports[variant]:
                raise SystemExit(f"slimming {language}/{arch}: {variant} reported another saving:\n{output}")

    print(f"slimming {language}/{arch}: the {'pip' if language == 'python' else 'npm'} baseline ...",
          file=sys.stderr, flush=True)  # fmt: skip
    theirs = base / "baseline.zip"
    baseline_seconds = baseline(language, arch, projects["plain"] / "fn", theirs, base, env)
    zips = {variant: projects[variant] / "dist" / "fn.zip" for variant in variants}
    contents = dist_infos if language == "python" else npm_packages
    ours, baselines = contents(zips["plain"]), contents(theirs)

    print(f"slimming {language}/{arch}: running the handlers ...", file=sys.stderr, flush=True)
    checks: dict[str, object] = {}
    walks: dict[str, dict[str, object]] = {}
    for variant in variants:
        run_dir = base / "run" / variant
        if language == "python":
            walk = arch == "x86_64"
            if arch == "arm64" and variant == "plain":
                continue  # under qemu: the slimmed zips only
            result = check_python(zips[variant], arch, run_dir, walk)
            if walk:
                walks[variant] = result.pop("walk")  # type: ignore[assignment]
            checks[variant] = result
        else:
            if arch == "arm64" and (getattr(args, "no_arm64_node", False) or variant == "plain"):
                continue
            checks[variant] = check_node(zips[variant], arch, run_dir)
    for path in (base / "run", *(base / "run").rglob("*")):  # writable again, to be removed later
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)
    return {
        "language": language,
        "arch": arch,
        "variants": {variant: {"slim": options} for variant, options in variants.items()},
        "sizes": {"baseline": zip_summary(theirs), **{v: zip_summary(p) for v, p in zips.items()}},
        "slim_reports": reports,
        "times": times,
        "cpu_times": cpu,
        "baseline_seconds": baseline_seconds,
        "contents": {"lambdapack": ours, "baseline": baselines, "same": ours == baselines},
        "checks": checks,
        "walk": compare_walks(walks) if walks else None,
    }


def _versions(env: dict[str, str]) -> dict[str, str]:
    def out(*command: str) -> str:
        return subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout.strip()

    strip = re.search(r"LLVM version (\S+)", out("llvm-strip-19", "--version"))
    return {
        "lambdapack": out(str(LAMBDAPACK), "--version"),
        "strip": f"llvm-strip-19 {strip.group(1) if strip else '?'}",
        "node": out("node", "--version"),
        "npm": out("npm", "--version"),
        "python3.11": out(str(pyrun.interpreter("3.11", "x86_64")[0]), "--version"),
    }


def bench_slimming(args: argparse.Namespace, work: Path) -> dict[str, object]:
    """Both functions on each of ``args.archs``, and the tools' versions."""
    results = []
    for language in ("python", "node"):
        lock = None
        if language == "node":
            env = {**node_environment(), "LAMBDAPACK_CACHE_DIR": str(work / "slimming" / "cache-lock")}
            lock = node_lock(work / "slimming", env)
        for arch in args.archs.split(","):
            results.append(bench_language(language, arch, args, work, lock))
    return {"functions": results, "tools": _versions(node_environment())}


def _label(result: dict[str, object], variant: str) -> str:
    if variant == "baseline":
        return "pip --target + zip" if result["language"] == "python" else "npm ci + zip"
    return {"plain": "lambdapack", "slim": "lambdapack slim", "all": "lambdapack slim all"}[variant]


def _saved(value: int, reference: int) -> str:
    return f"{(reference - value) / reference:>6.1%}" if value != reference else f"{'-':>6}"


def report_slimming(result: dict[str, object]) -> list[str]:
    tools = result["tools"]
    functions = result["functions"]
    py = next((f for f in functions if f["language"] == "python"), None)  # type: ignore[union-attr]
    versions = ""
    if py is not None:
        pinned = [d for d in py["contents"]["lambdapack"] if d.split("-")[0] in ("numpy", "pandas")]
        versions = " + ".join(d.replace("-", " ", 1) for d in pinned)
    lines = [
        f"Slimming: {PY_RUNTIME} {versions} + app.py; {NODE_RUNTIME} sharp {SHARP} + "
        f"@aws-sdk/client-dynamodb + index.js; {tools['strip']}; {tools['lambdapack']}; "  # type: ignore[index]
        "cold builds (lambdapack's cache emptied, downloads cached), medians (cpu = user + system time)",
        "slim (python) = tests, stubs, strip; all (python) = tests, stubs, metadata, pycache, strip; "
        "slim (node) = tests, stubs, docs, maps, strip; "
        "saved = against lambdapack without slim (negative: larger)",
        f"{'function':<14} {'build':<24} {'zip bytes':>11} {'saved':>6} {'unzipped':>12} {'saved':>6} "
        f"{'files':>6} {'cold':>8} {'cpu':>8}  import check",
    ]
    lines.append("-" * (len(lines[-1]) + 12))
    for r in functions:  # type: ignore[attr-defined]
        sizes, times, cpu, checks = r["sizes"], r["times"], r["cpu_times"], r["checks"]
        plain = sizes["plain"]
        for variant in ("baseline", *r["variants"]):
            s = sizes[variant]
            timing = (
                f"{median(times[variant]):>7.2f}s {median(cpu[variant]):>7.2f}s"
                if variant in times
                else f"{'':>8} {'':>8}"
            )
            check = ""
            if variant in checks:
                check = f"ok ({'qemu, ' if r['arch'] == 'arm64' else ''}{checks[variant]['seconds']:.1f}s)"
                walk = r["walk"]
                if walk is not None:
                    broken = len(walk[variant]["broken"]) if variant in walk else 0
                    check = (
                        f"ok; walk {walk['imported'] - broken}/{walk['modules']} modules"
                        f"{f', {broken} broken' if broken else ''} ({checks[variant]['seconds']:.1f}s)"
                    )
            lines.append(
                f"{r['language'] + '/' + r['arch']:<14} {_label(r, variant):<24} {s['bytes']:>11,} "
                f"{_saved(s['bytes'], plain['bytes'])} {s['unzipped']:>12,} "
                f"{_saved(s['unzipped'], plain['unzipped'])} "
                f"{s['files']:>6,} {timing}  {check}"
            )
    lines.append("")
    lines.append("what each option saved, unzipped bytes (the build's `info [slim]` line):")
    for r in functions:  # type: ignore[attr-defined]
        for variant, report in r["slim_reports"].items():
            if report is None:
                continue
            parts = ", ".join(f"{option} {saved:,}" for option, saved in report["options"].items())
            lines.append(
                f"  {r['language'] + '/' + r['arch']:<14} {variant:<5} {report['bytes']:>11,} in "
                f"{report['files']:,} files: {parts}"
            )
    for r in functions:  # type: ignore[attr-defined]
        sizes = r["sizes"]
        if "all" in sizes and sizes["all"]["sha256"] == sizes["slim"]["sha256"]:
            lines.append(f"{r['language']}/{r['arch']}: all gives the same zip as slim, byte for byte")
        if not r["contents"]["same"]:
            lines.append(
                f"note: {r['language']}/{r['arch']}: the baseline installed other versions: "
                f"{sorted(set(r['contents']['baseline']) ^ set(r['contents']['lambdapack']))}"
            )
        walk = r["walk"]
        if walk is None:
            continue
        failed = walk["failed_in_plain"]
        reasons = Counter(failed.values()).most_common()
        lines.append(
            f"{r['language']}/{r['arch']} module walk: {walk['modules']} modules of numpy and pandas outside "
            f"test directories; {len(failed)} fail to import from the plain zip too: "
            + "; ".join(f"{n} x {reason[:64]}" for reason, n in reasons[:6])
            + ("; ..." if len(reasons) > 6 else "")
        )
        for variant in r["variants"]:
            if variant == "plain":
                continue
            w = walk[variant]
            if w["missing"] or w["extra"]:
                lines.append(f"  {variant}: modules missing {w['missing'][:8]}, extra {w['extra'][:8]}")
            if w["broken"]:
                lines.append(
                    f"  {variant}: {len(w['broken'])} modules import from the plain zip, not from this one:"
                )
                for name, error in w["broken"].items():
                    lines.append(f"    {name}: {error}")
            else:
                lines.append(
                    f"  {variant}: every module that imports from the plain zip imports from this one"
                )
    return lines


def main() -> None:
    parser = standalone_parser(__doc__, runs=None, cold_runs=3)
    parser.add_argument("--archs", default="x86_64,arm64")
    parser.add_argument("--no-arm64-node", action="store_true", help="do not run the arm64 Node.js handler")
    args = parser.parse_args()
    run_alone(
        "slimming", args, bench_slimming, report_slimming, {"cold_runs": args.cold_runs, "archs": args.archs}
    )


if __name__ == "__main__":
    main()
