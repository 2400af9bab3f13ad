"""lambdapack against the npm recipe for a Node.js function, same machine, same process tree.

    env -u PYTHONDONTWRITEBYTECODE .venv/bin/python bench/node.py [--runs 5] [--cold-runs 3] [--workdir DIR]
    env -u PYTHONDONTWRITEBYTECODE .venv/bin/python bench/run.py --only node [--runs 5] [--cold-runs 3]

The function: nodejs20.x on arm64, sharp (a native addon with per-platform
optional packages) + @aws-sdk/client-dynamodb + a small index.js, with a
package-lock.json written once by `lambdapack lock` (as a user commits it).

The baseline is the recipe a user writes (AWS's Node.js packaging guide with
npm's cross-platform flags), run in a copy of the function's directory::

    rm -rf build && mkdir build && cp package.json package-lock.json index.js build/ &&
    cd build && npm ci --omit=dev --os=linux --cpu=arm64 --libc=glibc && zip -qr -X ../fn.zip .

Both tools download nothing while timed: before any timing, the recipe runs
once (filling its npm cache, npm_config_cache=<work>/npm-recipe) and
lambdapack builds once (filling its npm cache, which lives in its cache
directory: $LAMBDAPACK_CACHE_DIR/npm). Then, in alternation, round by round:

  recipe  the recipe from scratch (warm npm cache; it has no other cache)
  cold    lambdapack with its cache emptied except npm/ (no deps/, objects/,
          locks/, no previous output): install, checks, zip, as the first
          build on a developer's machine whose npm cache is warm
  warm    lambdapack after a one-line edit of index.js
  no-op   lambdapack again, nothing changed

lambdapack is measured as users install it (a wheel of the working tree in
bench/.venv, see run.py). It prints medians, ratios to the recipe's median,
CPU times (user + system of the process tree, steadier than wall time on a
busy machine), the targets' verdicts and the zips' sizes; the raw numbers go
to bench/results/node.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from run import (
    LAMBDAPACK,
    _clean_environment,
    median,
    run_alone,
    standalone_parser,
)

SHARP = "0.33.5"
DYNAMODB = "3.1169.0"  # @aws-sdk/client-dynamodb, the newest 3.x when this was written
RUNTIME = "nodejs20.x"
ARCH = "arm64"
CPU = "arm64"

#: The issue's targets: warm <= 0.1x the recipe, no-op <= 0.25 s, cold <= 1.2x the recipe.
TARGET_WARM_RATIO = 0.1
TARGET_NOOP_SECONDS = 0.25
TARGET_COLD_RATIO = 1.2

PACKAGE_JSON = {
    "name": "fn",
    "version": "1.0.0",
    "private": True,
    "description": "Makes thumbnails and records them in DynamoDB",
    "main": "index.js",
    "dependencies": {"@aws-sdk/client-dynamodb": DYNAMODB, "sharp": SHARP},
}

INDEX_JS = """\
"use strict";
const sharp = require("sharp");
const { DynamoDBClient, PutItemCommand } = require("@aws-sdk/client-dynamodb");

const client = new DynamoDBClient({});

exports.handler = async (event) => {
  const image = Buffer.from(event.image, "base64");
  const thumbnail = await sharp(image).resize(64, 64).png().toBuffer();
  await client.send(new PutItemCommand({
    TableName: process.env.TABLE,
    Item: { id: { S: event.id }, thumbnail: { B: thumbnail } },
  }));
  return { statusCode: 200, body: JSON.stringify({ id: event.id, bytes: thumbnail.length }) };
};
"""

CONFIG = f"""\
[functions.fn]
source = "fn"
handler = "index.handler"
runtime = "{RUNTIME}"
architecture = "{ARCH}"
"""

RECIPE = (
    "rm -rf build && mkdir build && cp package.json package-lock.json index.js build/ && cd build && "
    f"npm ci --omit=dev --os=linux --cpu={CPU} --libc=glibc && zip -qr -X ../fn.zip ."
)


def run_timed(command: str, cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU time (user + system of the process tree) of ``command``;
    its output is kept and shown only if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {command}\n{done.stdout}{done.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


class Recorder:
    """Wall and CPU times of whole-process runs, by scenario."""

    def __init__(self, scenarios: tuple[str, ...]) -> None:
        self.times: dict[str, list[float]] = {s: [] for s in scenarios}
        self.cpu: dict[str, list[float]] = {s: [] for s in scenarios}

    def __call__(self, scenario: str, command: str, cwd: Path, env: dict[str, str]) -> None:
        wall, used = run_timed(command, cwd, env)
        self.times[scenario].append(wall)
        self.cpu[scenario].append(used)


def empty_cache(cache: Path, output: Path, *, keep: tuple[str, ...]) -> None:
    """Remove lambdapack's cache but its ``keep`` parts (download caches, tools), and the output."""
    shutil.rmtree(output, ignore_errors=True)
    for entry in cache.iterdir():
        if entry.name in keep:
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def warm_then_no_op(
    label: str, zip_path: Path, edit: Callable[[], None], build: Callable[[str], None]
) -> None:
    """A one-line ``edit``, the "warm" build (which must change the zip), then the
    "no-op" build (which must leave it alone: same inode and mtime)."""
    before = zip_path.read_bytes()
    edit()
    build("warm")
    if zip_path.read_bytes() == before:
        raise SystemExit(f"{label}: the warm build did not change the zip")
    written = zip_path.stat()
    build("no-op")
    after = zip_path.stat()
    if (after.st_mtime_ns, after.st_ino) != (written.st_mtime_ns, written.st_ino):
        raise SystemExit(f"{label}: a no-op build rewrote the zip")


def environment() -> dict[str, str]:
    """run.py's clean environment, without the user's npm settings either."""
    env = _clean_environment()
    for name in list(env):
        if name.lower().startswith("npm_config_"):
            del env[name]
    return env


def make_project(base: Path, env: dict[str, str]) -> tuple[Path, Path]:
    """The lambdapack project (with a lock written by `lambdapack lock`) and
    the recipe's copy of the function's directory."""
    project, recipe_dir = base / "project", base / "recipe"
    for directory in (project, recipe_dir):
        if directory.exists():
            shutil.rmtree(directory)
    fn = project / "fn"
    fn.mkdir(parents=True)
    (project / "lambdapack.toml").write_text(CONFIG)
    (fn / "package.json").write_text(json.dumps(PACKAGE_JSON, indent=2) + "\n")
    (fn / "index.js").write_text(INDEX_JS)
    run_timed(f"{LAMBDAPACK} lock -C {project}", base, env)
    shutil.copytree(fn, recipe_dir)
    return project, recipe_dir


def _versions(env: dict[str, str]) -> dict[str, str]:
    def out(*command: str) -> str:
        return subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout.strip()

    return {"node": out("node", "--version"), "npm": out("npm", "--version")}


def _locked(lock: Path, name: str) -> str:
    packages = json.loads(lock.read_text())["packages"]
    return str(packages[f"node_modules/{name}"]["version"])


def _zip_summary(path: Path) -> dict[str, int]:
    with zipfile.ZipFile(path) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
    return {
        "bytes": path.stat().st_size,
        "files": len(infos),
        "unzipped": sum(i.file_size for i in infos),
    }


def bench_node(args: argparse.Namespace, work: Path) -> dict[str, object]:
    """The four scenarios, round by round; see the module's docstring."""
    base = work / "node"
    base.mkdir(parents=True, exist_ok=True)
    env = environment()
    cache = base / "cache-lambdapack"
    lp_env = {**env, "LAMBDAPACK_CACHE_DIR": str(cache)}
    recipe_env = {**env, "npm_config_cache": str(base / "npm-recipe")}
    for stale in (cache, base / "npm-recipe"):
        shutil.rmtree(stale, ignore_errors=True)
    project, recipe_dir = make_project(base, lp_env)
    fn, dist = project / "fn", project / "dist"
    ours, theirs = dist / "fn.zip", recipe_dir / "fn.zip"
    build = f"{LAMBDAPACK} build -q -C {project}"

    print("node: filling both npm caches ...", file=sys.stderr, flush=True)
    run_timed(RECIPE, recipe_dir, recipe_env)
    run_timed(build, base, lp_env)

    record = Recorder(("recipe", "cold", "warm", "no-op"))

    load_before = os.getloadavg()
    for run in range(max(args.runs, args.cold_runs)):
        print(f"node: round {run + 1} ...", file=sys.stderr, flush=True)
        if run < args.runs:
            record("recipe", RECIPE, recipe_dir, recipe_env)
        if run < args.cold_runs:
            empty_cache(cache, dist, keep=("npm",))
            record("cold", build, base, lp_env)
        if run < args.runs:

            def edit(run: int = run) -> None:
                with (fn / "index.js").open("a") as f:
                    f.write(f"// edit {run}\n")

            warm_then_no_op("node", ours, edit, lambda scenario: record(scenario, build, base, lp_env))
    load_after = os.getloadavg()
    return {
        "function": {
            "runtime": RUNTIME,
            "architecture": ARCH,
            "sharp": _locked(fn / "package-lock.json", "sharp"),
            "@aws-sdk/client-dynamodb": _locked(fn / "package-lock.json", "@aws-sdk/client-dynamodb"),
            "locked_packages": sum(
                1 for k in json.loads((fn / "package-lock.json").read_text())["packages"] if k
            ),
        },
        "recipe": RECIPE,
        "times": record.times,
        "cpu_times": record.cpu,
        "sizes": {"lambdapack": _zip_summary(ours), "recipe": _zip_summary(theirs)},
        "tools": _versions(env),
        "load_average": {"before": load_before, "after": load_after},
    }


def report_node(result: dict[str, object]) -> list[str]:
    times, cpu = result["times"], result["cpu_times"]
    m = {s: median(v) for s, v in times.items()}  # type: ignore[attr-defined]
    c = {s: median(v) for s, v in cpu.items()}  # type: ignore[attr-defined]
    n = {s: len(v) for s, v in times.items()}  # type: ignore[attr-defined]
    fn, tools, sizes = result["function"], result["tools"], result["sizes"]
    recipe = m["recipe"]
    lines = [
        f"Node.js: {fn['runtime']} {fn['architecture']}, sharp {fn['sharp']} + "  # type: ignore[index]
        f"@aws-sdk/client-dynamodb {fn['@aws-sdk/client-dynamodb']} "  # type: ignore[index]
        f"({fn['locked_packages']} packages in the lock) + index.js; "  # type: ignore[index]
        f"node {tools['node']}, npm {tools['npm']}; medians (cpu = user + system time)",  # type: ignore[index]
        f"{'scenario':<8} {'runs':>4} {'time':>9} {'cpu':>8} {'/recipe':>8}  target",
    ]
    lines.append("-" * 60)
    targets = {
        "recipe": "",
        "cold": f"<= {TARGET_COLD_RATIO}x: {'met' if m['cold'] <= TARGET_COLD_RATIO * recipe else 'NOT met'}",
        "warm": f"<= {TARGET_WARM_RATIO}x: {'met' if m['warm'] <= TARGET_WARM_RATIO * recipe else 'NOT met'}",
        "no-op": f"<= {TARGET_NOOP_SECONDS} s: {'met' if m['no-op'] <= TARGET_NOOP_SECONDS else 'NOT met'}",
    }
    for s in ("recipe", "cold", "warm", "no-op"):
        lines.append(f"{s:<8} {n[s]:>4} {m[s]:>8.3f}s {c[s]:>7.3f}s {m[s] / recipe:>8.3f}  {targets[s]}")
    ours, theirs = sizes["lambdapack"], sizes["recipe"]  # type: ignore[index]
    load = result["load_average"]
    lines.append(
        f"zips: lambdapack {ours['bytes']:,} bytes, {ours['files']:,} files ({ours['unzipped']:,} unzipped); "
        f"recipe {theirs['bytes']:,} bytes, {theirs['files']:,} files ({theirs['unzipped']:,} unzipped)"
    )
    lines.append(
        f"load average (1 min) {load['before'][0]:.2f} before, {load['after'][0]:.2f} after"  # type: ignore[index]
    )
    return lines


def main() -> None:
    parser = standalone_parser(__doc__, runs=5, cold_runs=3)
    args = parser.parse_args()
    run_alone("node", args, bench_node, report_node, {"runs": args.runs, "cold_runs": args.cold_runs})


if __name__ == "__main__":
    main()
