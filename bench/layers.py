"""A function whose dependencies live in a layer, against the same function carrying them itself.

    env -u PYTHONDONTWRITEBYTECODE .venv/bin/python bench/layers.py [--runs 15] [--cold-runs 3]
                                                  [--workdir DIR]
    env -u PYTHONDONTWRITEBYTECODE .venv/bin/python bench/run.py --only layers [--runs 5] [--cold-runs 3]

Needs the network (PyPI) for the first build. Two projects, python3.11 on
x86_64, the requirements `requests` and `pydantic` (unpinned) and a 5-line
app.py that imports both:

  layered  [layers.deps] with requirements = "layers/deps/requirements.txt", and
           [functions.api] (source api/, handler app.handler) with the SAME
           requirements in api/requirements.txt and layers = ["deps"]: its zip
           holds only its own code
  alone    the same [functions.api] without a layer: its dependencies in its zip

Every run is `lambdapack build -q -C PROJECT` (what a user runs: every
artifact of the project; for `layered` the layer and the function), a whole
process, timed with time.perf_counter around it:

  cold    lambdapack's cache emptied and no previous output; uv's download
          cache (UV_CACHE_DIR) warm, so nothing is downloaded while timed:
          resolve, install, check and zip (layered: the layer's dependencies
          and the function, which installs its requirements too to find what
          the layer provides)
  warm    after a line is appended to api/app.py
  no-op   nothing changed

Order: one untimed build of each project (filling uv's cache), --cold-runs
rounds of cold (layered, then alone), one untimed build of each again, then
--runs rounds of warm and no-op (layered, then alone). Checked on every run:
a warm build rewrites api.zip and leaves the layer's zip alone (same inode
and mtime), a no-op writes neither. Checked once: the layered api.zip holds
only api/'s own files (its entries are listed), and the handler runs from it
with the layer unpacked as /opt (tests/pyrun.py: the host's python3.11 -I -S,
read-only directories, the layer's python/ on sys.path after the task's).

The issue's target: the layered function's warm rebuild at most 0.05 s above
its no-op (medians; the median of the per-round differences is shown too).
Medians of whole-process wall times; cpu = user + system of the process tree.
It prints a table; the raw numbers go to bench/results/layers.json.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from run import (
    LAMBDAPACK,
    REPO,
    _clean_environment,
    median,
    run_alone,
    standalone_parser,
)

sys.path.insert(0, str(REPO / "tests"))
import pyrun  # tests/pyrun.py: runs a Python handler from a zip (and its layers), as Lambda does

RUNTIME = "python3.11"
ARCH = "x86_64"
REQUIREMENTS = ["requests", "pydantic"]
#: The issue's target: a warm rebuild of a function whose dependencies are in a layer
#: costs at most this much more than a no-op.
TARGET_WARM_ABOVE_NOOP = 0.05

APP = """import pydantic
import requests

def handler(event, context):
    return {"requests": requests.__version__, "pydantic": pydantic.VERSION}
"""

FUNCTION = """[functions.api]
source = "api"
handler = "app.handler"
exclude = ["requirements.txt"]
"""

PROJECTS = {
    "layered": (
        f'runtime = "{RUNTIME}"\narchitecture = "{ARCH}"\n\n'
        '[layers.deps]\nrequirements = "layers/deps/requirements.txt"\n\n'
        f'{FUNCTION}layers = ["deps"]\n'
    ),
    "alone": f'runtime = "{RUNTIME}"\narchitecture = "{ARCH}"\n\n{FUNCTION}',
}
SCENARIOS = ("cold", "warm", "no-op")


def run_timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU time (user + system of the process tree) of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stdout}{done.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def make_project(project: Path, kind: str) -> None:
    if project.exists():
        shutil.rmtree(project)
    requirements = "\n".join(REQUIREMENTS) + "\n"
    (project / "api").mkdir(parents=True)
    (project / "api" / "app.py").write_text(APP)
    (project / "api" / "requirements.txt").write_text(requirements)
    if kind == "layered":
        (project / "layers" / "deps").mkdir(parents=True)
        (project / "layers" / "deps" / "requirements.txt").write_text(requirements)
    (project / "lambdapack.toml").write_text(PROJECTS[kind])


def _zip_summary(path: Path) -> dict[str, object]:
    with zipfile.ZipFile(path) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
    return {"bytes": path.stat().st_size, "files": len(infos), "unzipped": sum(i.file_size for i in infos)}


def _signature(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_mtime_ns, info.st_ino


def bench_layers(args: argparse.Namespace, work: Path) -> dict[str, object]:
    """The three scenarios for both projects; see the module's docstring."""
    base = work / "layers"
    base.mkdir(parents=True, exist_ok=True)
    env = {**_clean_environment(), "UV_CACHE_DIR": str(base / "cache-uv")}
    projects = {kind: base / kind for kind in PROJECTS}
    caches = {kind: base / f"cache-lambdapack-{kind}" for kind in PROJECTS}
    for kind, project in projects.items():
        make_project(project, kind)
        shutil.rmtree(caches[kind], ignore_errors=True)
    envs = {kind: {**env, "LAMBDAPACK_CACHE_DIR": str(caches[kind])} for kind in PROJECTS}
    dists = {kind: project / "dist" for kind, project in projects.items()}

    def build(kind: str) -> tuple[float, float]:
        return run_timed([str(LAMBDAPACK), "build", "-q", "-C", str(projects[kind])], envs[kind])

    def clear(kind: str) -> None:
        shutil.rmtree(dists[kind], ignore_errors=True)
        shutil.rmtree(caches[kind], ignore_errors=True)

    times: dict[str, dict[str, list[float]]] = {k: {s: [] for s in SCENARIOS} for k in PROJECTS}
    cpu: dict[str, dict[str, list[float]]] = {k: {s: [] for s in SCENARIOS} for k in PROJECTS}

    def record(kind: str, scenario: str) -> None:
        wall, used = build(kind)
        times[kind][scenario].append(wall)
        cpu[kind][scenario].append(used)

    print("layers: one untimed build of each project (uv's download cache) ...", file=sys.stderr, flush=True)
    for kind in PROJECTS:
        build(kind)
    load_before = os.getloadavg()
    for run in range(args.cold_runs):
        print(f"layers: cold round {run + 1} ...", file=sys.stderr, flush=True)
        for kind in PROJECTS:
            clear(kind)
            record(kind, "cold")
    for kind in PROJECTS:
        build(kind)
    layer_zip = dists["layered"] / "deps.zip"
    for run in range(args.runs):
        print(f"layers: warm and no-op round {run + 1} ...", file=sys.stderr, flush=True)
        for kind in PROJECTS:
            function_zip = dists[kind] / "api.zip"
            before = function_zip.read_bytes()
            layer_before = _signature(layer_zip) if kind == "layered" else None
            with (projects[kind] / "api" / "app.py").open("a") as f:
                f.write(f"# edit {run}\n")
            record(kind, "warm")
            if function_zip.read_bytes() == before:
                raise SystemExit(f"layers: {kind}: the warm build did not change api.zip")
            if kind == "layered" and _signature(layer_zip) != layer_before:
                raise SystemExit(f"layers: {kind}: the warm build rewrote the layer's zip")
            written = _signature(function_zip)
            record(kind, "no-op")
            if _signature(function_zip) != written or (
                kind == "layered" and _signature(layer_zip) != layer_before
            ):
                raise SystemExit(f"layers: {kind}: a no-op build rewrote a zip")
    load_after = os.getloadavg()

    with zipfile.ZipFile(dists["layered"] / "api.zip") as zf:
        entries = zf.namelist()
    api = projects["layered"] / "api"
    own = sorted(p.relative_to(api).as_posix() for p in api.rglob("*") if p.is_file())
    own = [name for name in own if name != "requirements.txt"]  # excluded in the config
    if entries != own:
        raise SystemExit(f"layers: the layered api.zip holds {entries}, not only its own files {own}")
    with zipfile.ZipFile(layer_zip) as zf:
        layer_distributions = sorted(
            {n.split("/")[1].removesuffix(".dist-info") for n in zf.namelist() if ".dist-info/" in n}
        )
    answered = pyrun.run_handler(
        dists["layered"] / "api.zip",
        "app.handler",
        {},
        architecture=ARCH,
        work=base / "run",
        layers=[layer_zip],
    )
    for path in (base / "run", *(base / "run").rglob("*")):  # writable again, to be removed later
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)
    return {
        "function": {"runtime": RUNTIME, "architecture": ARCH, "requirements": REQUIREMENTS},
        "configs": PROJECTS,
        "times": times,
        "cpu_times": cpu,
        "sizes": {
            "layer deps.zip": _zip_summary(layer_zip),
            "layered api.zip": _zip_summary(dists["layered"] / "api.zip"),
            "alone api.zip": _zip_summary(dists["alone"] / "api.zip"),
        },
        "layered_api_entries": entries,
        "layer_distributions": layer_distributions,
        "handler_answered": answered,
        "lambdapack": subprocess.run(
            [str(LAMBDAPACK), "--version"], capture_output=True, text=True, check=True
        ).stdout.strip(),
        "load_average": {"before": load_before, "after": load_after},
    }


def report_layers(result: dict[str, object]) -> list[str]:
    times, cpu, sizes = result["times"], result["cpu_times"], result["sizes"]
    fn = result["function"]
    lines = [
        f"Layers: {fn['runtime']} {fn['architecture']}, {' + '.join(fn['requirements'])} "  # type: ignore[index]
        f"(layer: {', '.join(result['layer_distributions'])}) + a 5-line app.py; "  # type: ignore[arg-type]
        f"{result['lambdapack']}; medians of whole processes (cpu = user + system time)",
        f"{'project':<42} {'scenario':<6} {'runs':>4} {'time':>8} {'cpu':>8}",
        "-" * 72,
    ]
    label = {
        "layered": "layer deps + function api (layers=[deps])",
        "alone": "function api alone (deps in its zip)",
    }
    m = {k: {s: median(v) for s, v in times[k].items()} for k in times}  # type: ignore[attr-defined]
    for kind in ("layered", "alone"):
        for scenario in SCENARIOS:
            values = times[kind][scenario]  # type: ignore[index]
            lines.append(
                f"{label[kind]:<42} {scenario:<6} {len(values):>4} {m[kind][scenario]:>7.3f}s "
                f"{median(cpu[kind][scenario]):>7.3f}s"  # type: ignore[index]
            )
    lines.append("")
    for kind in ("layered", "alone"):
        warm, noop = times[kind]["warm"], times[kind]["no-op"]  # type: ignore[index]
        paired = median([w - n for w, n in zip(warm, noop, strict=True)])
        above = m[kind]["warm"] - m[kind]["no-op"]
        cpu_above = median(cpu[kind]["warm"]) - median(cpu[kind]["no-op"])  # type: ignore[index]
        verdict = ""
        if kind == "layered":
            met = above <= TARGET_WARM_ABOVE_NOOP
            verdict = f"; target <= {TARGET_WARM_ABOVE_NOOP} s: {'met' if met else 'NOT met'}"
        lines.append(
            f"{label[kind]}: warm - no-op = {above:+.3f} s (per-round differences: median "
            f"{paired:+.3f} s; cpu {cpu_above:+.3f} s){verdict}"
        )
    cold_layered, cold_alone = m["layered"]["cold"], m["alone"]["cold"]
    lines.append(f"cold: layer + function / function alone = {cold_layered / cold_alone:.2f}")
    parts = [f"{name} {s['bytes']:,} bytes, {s['files']:,} files" for name, s in sizes.items()]  # type: ignore[attr-defined]
    lines.append("zips: " + "; ".join(parts))
    lines.append(f"layered api.zip entries: {', '.join(result['layered_api_entries'])}")  # type: ignore[arg-type]
    lines.append(f"handler with the layer under /opt answered {result['handler_answered']}")
    load = result["load_average"]
    lines.append(f"load average (1 min) {load['before'][0]:.2f} before, {load['after'][0]:.2f} after")  # type: ignore[index]
    return lines


def main() -> None:
    parser = standalone_parser(__doc__, runs=15, cold_runs=3)
    args = parser.parse_args()
    run_alone("layers", args, bench_layers, report_layers, {"runs": args.runs, "cold_runs": args.cold_runs})


if __name__ == "__main__":
    main()
