"""A bundled TypeScript function (`bundle = true`) against esbuild + zip by hand, on one machine.

    env -u PYTHONDONTWRITEBYTECODE .venv/bin/python bench/bundling.py [--runs 7] [--cold-runs 3]
                                                  [--workdir DIR]
    env -u PYTHONDONTWRITEBYTECODE .venv/bin/python bench/run.py --only bundling [--runs 5] [--cold-runs 3]

The function: nodejs20.x on arm64, src/index.ts importing uuid and the AWS
SDK's DynamoDB document client (@aws-sdk/lib-dynamodb + client-dynamodb,
left external: the runtime has them), bundled with a source map, with a
package-lock.json written once by `lambdapack lock` (as a user commits it).

The baseline is what a user writes by hand, in a copy of the function's
directory, with the same esbuild binary (the one lambdapack pins, 0.28.2)::

    recipe cold  rm -rf node_modules out fn.zip && npm ci --omit=dev &&
                 esbuild src/index.ts --bundle --platform=node --target=node20 --format=cjs
                   --external:@aws-sdk/* --sourcemap --sources-content=false --outfile=out/index.js &&
                 cd out && zip -qr -X ../fn.zip .
    recipe warm  the same without `npm ci` (node_modules is there)

Neither downloads anything while timed: both npm caches are filled first
(the recipe's npm_config_cache=<work>/npm-recipe; lambdapack's is
$LAMBDAPACK_CACHE_DIR/npm), and esbuild is in lambdapack's tool cache. Then,
in alternation, round by round:

  recipe  the cold recipe (warm npm cache)
  cold    lambdapack with its cache emptied except npm/ and node-tools/ (no
          deps/, objects/, locks/, no previous output): install for the target,
          bundle, checks, zip
  esbuild the warm recipe: esbuild + zip alone
  warm    lambdapack after a one-line edit of src/index.ts
  no-op   lambdapack again, nothing changed

Every lambdapack zip is checked to hold index.js and index.js.map only. The
issue's targets: cold <= 1.5x the cold recipe; warm <= 0.25 s; no-op <= 0.25 s.
Medians of whole processes; cpu = user + system of the process tree. The raw
numbers go to bench/results/bundling.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import zipfile
from pathlib import Path

from node import (
    Recorder,
    _locked,
    _versions,
    _zip_summary,
    empty_cache,
    environment,
    run_timed,
    warm_then_no_op,
)
from run import LAMBDAPACK, median, run_alone, standalone_parser

RUNTIME = "nodejs20.x"
ARCH = "arm64"
UUID = "11.1.0"
SDK = "3.1169.0"  # @aws-sdk/lib-dynamodb and client-dynamodb
ESBUILD = "0.28.2"

TARGET_COLD_RATIO = 1.5
TARGET_WARM_SECONDS = 0.25
TARGET_NOOP_SECONDS = 0.25

PACKAGE_JSON = {
    "name": "orders",
    "version": "1.0.0",
    "private": True,
    "dependencies": {"uuid": UUID, "@aws-sdk/client-dynamodb": SDK, "@aws-sdk/lib-dynamodb": SDK},
}

INDEX_TS = """\
import { v4 as uuidv4 } from "uuid";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";

interface Order {
  item: string;
  quantity: number;
}

const documents = DynamoDBDocumentClient.from(new DynamoDBClient({}));

export const handler = async (event: Order) => {
  const id = uuidv4();
  await documents.send(new PutCommand({ TableName: process.env.TABLE, Item: { id, ...event } }));
  return { statusCode: 201, body: JSON.stringify({ id }) };
};
"""

CONFIG = f"""\
[functions.orders]
source = "orders"
handler = "index.handler"
entry = "src/index.ts"
runtime = "{RUNTIME}"
architecture = "{ARCH}"
bundle = true
sourcemap = true
"""

ESBUILD_ARGS = (
    "src/index.ts --bundle --platform=node --target=node20 --format=cjs '--external:@aws-sdk/*' "
    "--sourcemap --sources-content=false --outfile=out/index.js --log-level=warning"
)


def bench_bundling(args: argparse.Namespace, work: Path) -> dict[str, object]:
    """The five scenarios, round by round; see the module's docstring."""
    base = work / "bundling"
    base.mkdir(parents=True, exist_ok=True)
    env = environment()
    cache = base / "cache-lambdapack"
    lp_env = {**env, "LAMBDAPACK_CACHE_DIR": str(cache)}
    recipe_env = {**env, "npm_config_cache": str(base / "npm-recipe")}
    project, recipe_dir = base / "project", base / "recipe"
    for stale in (cache, base / "npm-recipe", project, recipe_dir):
        shutil.rmtree(stale, ignore_errors=True)
    fn = project / "orders"
    (fn / "src").mkdir(parents=True)
    (project / "lambdapack.toml").write_text(CONFIG)
    (fn / "package.json").write_text(json.dumps(PACKAGE_JSON, indent=2) + "\n")
    (fn / "src" / "index.ts").write_text(INDEX_TS)
    run_timed(f"{LAMBDAPACK} lock -C {project}", base, lp_env)
    shutil.copytree(fn, recipe_dir)
    dist = project / "dist"
    ours, theirs = dist / "orders.zip", recipe_dir / "fn.zip"
    build = f"{LAMBDAPACK} build -q -C {project}"

    print("bundling: filling both npm caches and lambdapack's esbuild ...", file=sys.stderr, flush=True)
    run_timed(build, base, lp_env)
    esbuild = next((cache / "node-tools").glob(f"esbuild-{ESBUILD}-*/esbuild"))
    recipe_warm = f"rm -rf out fn.zip && {esbuild} {ESBUILD_ARGS} && cd out && zip -qr -X ../fn.zip ."
    recipe_cold = f"rm -rf node_modules && npm ci --omit=dev && {recipe_warm}"
    run_timed(recipe_cold, recipe_dir, recipe_env)

    record = Recorder(("recipe", "cold", "esbuild", "warm", "no-op"))

    def only_the_bundle() -> None:
        with zipfile.ZipFile(ours) as zf:
            names = sorted(zf.namelist())
        if names != ["index.js", "index.js.map"]:
            raise SystemExit(f"bundling: the zip holds {names}, not the bundle and its map")

    load_before = os.getloadavg()
    for run in range(max(args.runs, args.cold_runs)):
        print(f"bundling: round {run + 1} ...", file=sys.stderr, flush=True)
        if run < args.cold_runs:
            record("recipe", recipe_cold, recipe_dir, recipe_env)
            empty_cache(cache, dist, keep=("npm", "node-tools"))
            record("cold", build, base, lp_env)
            only_the_bundle()
        if run < args.runs:
            record("esbuild", recipe_warm, recipe_dir, recipe_env)

            def edit(run: int = run) -> None:  # a one-line edit
                source = (fn / "src" / "index.ts").read_text()
                (fn / "src" / "index.ts").write_text(
                    re.sub(r"statusCode: \d+", f"statusCode: {202 + run}", source)
                )

            def build_checked(scenario: str) -> None:
                record(scenario, build, base, lp_env)
                only_the_bundle()

            warm_then_no_op("bundling", ours, edit, build_checked)
    load_after = os.getloadavg()
    return {
        "function": {
            "runtime": RUNTIME,
            "architecture": ARCH,
            "uuid": _locked(fn / "package-lock.json", "uuid"),
            "@aws-sdk/lib-dynamodb": _locked(fn / "package-lock.json", "@aws-sdk/lib-dynamodb"),
            "locked_packages": sum(
                1 for k in json.loads((fn / "package-lock.json").read_text())["packages"] if k
            ),
        },
        "recipe": {"cold": recipe_cold, "warm": recipe_warm},
        "times": record.times,
        "cpu_times": record.cpu,
        "sizes": {"lambdapack": _zip_summary(ours), "recipe": _zip_summary(theirs)},
        "tools": {**_versions(env), "esbuild": ESBUILD},
        "load_average": {"before": load_before, "after": load_after},
    }


def report_bundling(result: dict[str, object]) -> list[str]:
    times, cpu = result["times"], result["cpu_times"]
    m = {s: median(v) for s, v in times.items()}  # type: ignore[attr-defined]
    c = {s: median(v) for s, v in cpu.items()}  # type: ignore[attr-defined]
    n = {s: len(v) for s, v in times.items()}  # type: ignore[attr-defined]
    fn, tools, sizes = result["function"], result["tools"], result["sizes"]
    lines = [
        f"Bundling: {fn['runtime']} {fn['architecture']}, src/index.ts + uuid {fn['uuid']} + "  # type: ignore[index]
        f"@aws-sdk/lib-dynamodb {fn['@aws-sdk/lib-dynamodb']} (external; "  # type: ignore[index]
        f"{fn['locked_packages']} packages in the lock); esbuild {tools['esbuild']}, "  # type: ignore[index]
        f"node {tools['node']}, npm {tools['npm']}; medians (cpu = user + system time)",  # type: ignore[index]
        f"{'scenario':<8} {'runs':>4} {'time':>9} {'cpu':>8} {'ratio':>14}  target",
        "-" * 72,
    ]
    cold_ratio = m["cold"] / m["recipe"]
    rows = {
        "recipe": ("", ""),
        "cold": (
            f"{cold_ratio:.3f}/recipe",
            f"<= {TARGET_COLD_RATIO}x: {'met' if cold_ratio <= TARGET_COLD_RATIO else 'NOT met'}",
        ),
        "esbuild": ("", ""),
        "warm": (
            f"{m['warm'] / m['esbuild']:.2f}/esbuild",
            f"<= {TARGET_WARM_SECONDS} s: {'met' if m['warm'] <= TARGET_WARM_SECONDS else 'NOT met'}",
        ),
        "no-op": (
            "",
            f"<= {TARGET_NOOP_SECONDS} s: {'met' if m['no-op'] <= TARGET_NOOP_SECONDS else 'NOT met'}",
        ),
    }
    for s, (ratio, target) in rows.items():
        lines.append(f"{s:<8} {n[s]:>4} {m[s]:>8.3f}s {c[s]:>7.3f}s {ratio:>14}  {target}")
    ours, theirs = sizes["lambdapack"], sizes["recipe"]  # type: ignore[index]
    load = result["load_average"]
    lines.append(
        f"zips: lambdapack {ours['bytes']:,} bytes, {ours['files']} files ({ours['unzipped']:,} unzipped); "
        f"recipe {theirs['bytes']:,} bytes, {theirs['files']} files ({theirs['unzipped']:,} unzipped)"
    )
    lines.append(f"load average (1 min) {load['before'][0]:.2f} before, {load['after'][0]:.2f} after")  # type: ignore[index]
    return lines


def main() -> None:
    parser = standalone_parser(__doc__, runs=7, cold_runs=3)
    args = parser.parse_args()
    run_alone(
        "bundling", args, bench_bundling, report_bundling, {"runs": args.runs, "cold_runs": args.cold_runs}
    )


if __name__ == "__main__":
    main()
