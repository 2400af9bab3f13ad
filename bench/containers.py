"""lambdapack's source builds in the build image against doing it by hand, same machine, same engine.

    env -u PYTHONDONTWRITEBYTECODE .venv/bin/python bench/containers.py [--runs 3] [--cold-runs 3]
                                                  [--archs x86_64,arm64] [--workdir DIR]
    env -u PYTHONDONTWRITEBYTECODE .venv/bin/python bench/run.py --only containers [--runs 3] [--cold-runs 3]

Needs a Docker Engine with the build images (DOCKER_HOST, else the default
socket): `eval "$(tests/engine/up.sh)"` starts one with stand-ins tagged
public.ecr.aws/sam/build-python3.11:latest-x86_64 and :latest-arm64 (arm64
runs under qemu on an x86_64 machine), and the network (PyPI).

The function, one per architecture (two scenarios): python3.11, `mmh3==2.5.1`
in requirements.txt (an sdist with C++ sources and no wheel at all) and a
4-line app.py, with `sdists = "container"` in lambdapack.toml.

The baseline is what a user does by hand, and what `sam build --use-container`
amounts to: compile the sdist with pip in a container of the same image, then
install the wheel and zip it (IMAGE, PLATFORM linux/amd64 or linux/arm64,
MACHINE x86_64 or aarch64; WORK the work directory, FN the function's)::

    rm -rf WORK/wheel && mkdir WORK/wheel &&
    docker run --rm --network none --platform PLATFORM -v WORK/inputs:/in:ro -v WORK/wheel:/out IMAGE
        python3.11 -m pip wheel --no-deps --no-index --find-links /in -w /out /in/mmh3-2.5.1.tar.gz &&
    T=$(mktemp -d) && uv pip install --quiet --target $T --python-platform MACHINE-manylinux_2_17
        --python-version 3.11 --no-deps --no-index WORK/wheel/*.whl &&
    cp FN/app.py $T/ && rm -f WORK/fn.zip && (cd $T && zip -qr -X WORK/fn.zip .) && rm -rf $T

WORK/inputs holds mmh3-2.5.1.tar.gz and the setuptools and wheel wheels, fetched
once with `pip download` before any timing (so the baseline downloads nothing
while timed; it has no cache of built wheels either: it compiles every time).

lambdapack builds the project once first (filling uv's cache, UV_CACHE_DIR,
kept for every run). Then, in alternation, round by round:

  baseline    the recipe above
  cold        lambdapack with its cache emptied (no built/, deps/, locks/,
              objects/) and no previous output: resolve, fetch the sdist and
              the build requirements (from PyPI: lambdapack keeps no download
              cache of its own), compile in a container, install, check, zip;
              its output must say `built from its sdist ... in IMAGE` without
              `, from the cache`
  warm-sdist  lambdapack with deps/ and locks/ deleted and no previous output,
              built/ holding the wheel: the dependency set is made again and
              the wheel reused; its output must say `, from the cache`, and it
              must start no container
  warm        lambdapack after a one-line edit of app.py
  no-op       lambdapack again, nothing changed (the zip must not be rewritten)

Every run's container `create` events on the engine are counted (the docker
SDK's events API, between the run's start and end; every container of the
engine counts, so the count is an upper bound): the baseline and cold start
one, warm-sdist must start 0 (its target; the events of any are kept).

lambdapack is measured as users install it: a wheel of the working tree in
bench/.venv (run.py's install_lambdapack), plus the requirements of its
`docker` extra (`pip install 'lambdapack[docker]'`). It prints medians, ratios
to the baseline's median, CPU times (user + system of the process tree; the
compile runs in the engine's container, outside that tree, so it is not in
them), the targets' verdicts, the containers started and the zips' sizes; the
raw numbers go to bench/results/containers.json.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from run import (
    BIN,
    LAMBDAPACK,
    MACHINE,
    _clean_environment,
    install_extra,
    median,
    run_alone,
    standalone_parser,
)

RUNTIME = "python3.11"
PACKAGE, VERSION = "mmh3", "2.5.1"
SDIST = f"{PACKAGE}-{VERSION}.tar.gz"
IMAGE = "public.ecr.aws/sam/build-python3.11:latest-{arch}"
PLATFORM = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}
SCENARIOS = ("baseline", "cold", "warm-sdist", "warm", "no-op")

#: The targets of bench/RESULTS.md that apply: cold <= 1.2x the baseline (issue 4),
#: warm (one-line edit) <= 0.1x (the Node.js issue), no-op <= 0.25 s (issue 4).
#: A warm-sdist build has no target of its own: its ratio is reported, and it must start no container.
TARGET_COLD_RATIO = 1.2
TARGET_WARM_RATIO = 0.1
TARGET_NOOP_SECONDS = 0.25

APP = f"""\
import {PACKAGE}


def handler(event, context):
    return {PACKAGE}.hash(event["text"])
"""


def config(arch: str) -> str:
    return (
        f'sdists = "container"\nruntime = "{RUNTIME}"\narchitecture = "{arch}"\n'
        'exclude = ["requirements.txt"]\n\n'
        '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\n'
    )


def baseline(arch: str, work: Path, fn: Path) -> str:
    """The hand-made recipe (see the module's docstring): WORK/inputs into WORK/fn.zip."""
    wheel, out = work / "wheel", work / "fn.zip"
    return (
        f"rm -rf {wheel} && mkdir {wheel} && "
        f"docker run --rm --network none --platform {PLATFORM[arch]} -v {work / 'inputs'}:/in:ro "
        f"-v {wheel}:/out {IMAGE.format(arch=arch)} "
        f"python3.11 -m pip wheel --no-deps --no-index --find-links /in -w /out /in/{SDIST} && "
        f"T=$(mktemp -d) && {BIN}/uv pip install --quiet --target $T --python-platform "
        f"{MACHINE[arch]}-manylinux_2_17 --python-version 3.11 --no-deps --no-index {wheel}/*.whl && "
        f"cp {fn}/app.py $T/ && rm -f {out} && (cd $T && zip -qr -X {out} .) && rm -rf $T"
    )


def run_timed(command: str, cwd: Path, env: dict[str, str]) -> tuple[float, float, str, int, int]:
    """Wall and CPU time (user + system of the process tree) of ``command``, its
    output, and its window (ns, this machine's clock, which the engine shares); fails with the output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start_ns = time.time_ns()
    start = time.perf_counter()
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    end_ns = time.time_ns()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {command}\n{done.stdout}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout, start_ns, end_ns


class Engine:
    """The Docker Engine of ``DOCKER_HOST`` (else the default socket), through the docker SDK."""

    def __init__(self, env: dict[str, str]) -> None:
        try:
            import docker
        except ImportError:
            raise SystemExit("containers: needs the docker SDK (pip install 'docker>=7.1')") from None
        try:
            self.client = docker.DockerClient.from_env(environment=env, timeout=120)
            self.client.ping()
        except Exception as exc:  # noqa: BLE001 - every failure means "no engine"
            raise SystemExit(
                f'containers: no Docker engine answers ({exc}); start one: eval "$(tests/engine/up.sh)"'
            ) from None

    def created(self, start_ns: int, end_ns: int) -> list[dict[str, object]]:
        """The container ``create`` events of the engine between ``start_ns`` and ``end_ns``."""
        events = self.client.events(
            since=f"{start_ns / 1e9 - 1:.9f}",
            until=f"{time.time() + 0.001:.9f}",
            decode=True,
            filters={"type": "container", "event": "create"},
        )
        return [
            {"time_ns": e["timeNano"], **e.get("Actor", {}).get("Attributes", {})}
            for e in events
            if start_ns <= int(e["timeNano"]) <= end_ns
        ]

    def image(self, name: str) -> dict[str, object]:
        image = self.client.images.get(name)
        labels = image.attrs.get("Config", {}).get("Labels") or {}
        return {
            "name": name,
            "id": image.id,
            "architecture": image.attrs.get("Architecture"),
            "stand_in": "org.lambdapack.engine.recipe" in labels,
        }

    def version(self) -> str:
        return str(self.client.version().get("Version"))


def install_docker_extra() -> list[str]:
    """The requirements of lambdapack's ``docker`` extra, installed into bench/.venv."""
    return install_extra(LAMBDAPACK.parent / "python", "docker")


def fetch_inputs(inputs: Path, env: dict[str, str]) -> list[str]:
    """The baseline's inputs, once: the sdist, and the setuptools and wheel wheels."""
    shutil.rmtree(inputs, ignore_errors=True)
    inputs.mkdir(parents=True)
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "download", "--quiet"]
    pip += ["--no-deps", "-d", str(inputs)]
    fetch_env = {**env, "PIP_CACHE_DIR": str(inputs.parent / "cache-pip")}
    subprocess.run([*pip, "--only-binary", ":all:", "setuptools", "wheel"], check=True, env=fetch_env)
    subprocess.run([*pip, "--no-binary", ":all:", f"{PACKAGE}=={VERSION}"], check=True, env=fetch_env)
    return sorted(p.name for p in inputs.iterdir())


def make_project(project: Path, arch: str) -> Path:
    if project.exists():
        shutil.rmtree(project)
    fn = project / "fn"
    fn.mkdir(parents=True)
    (project / "lambdapack.toml").write_text(config(arch))
    (fn / "requirements.txt").write_text(f"{PACKAGE}=={VERSION}\n")
    (fn / "app.py").write_text(APP)
    return fn


def _zip_summary(path: Path, arch: str) -> dict[str, object]:
    extension = f"{PACKAGE}.cpython-311-{MACHINE[arch]}-linux-gnu.so"
    with zipfile.ZipFile(path) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if extension not in zf.namelist():
            raise SystemExit(f"containers: {path} has no {extension}")
        so = zf.read(extension)
    return {
        "bytes": path.stat().st_size,
        "files": len(infos),
        "unzipped": sum(i.file_size for i in infos),
        "extension": extension,
        "extension_bytes": len(so),
        "extension_sha256": hashlib.sha256(so).hexdigest(),
    }


def bench_arch(arch: str, args: argparse.Namespace, work: Path, engine: Engine) -> dict[str, object]:
    """The five scenarios of one architecture, round by round; see the module's docstring."""
    base = work / f"containers-{arch}"
    base.mkdir(parents=True, exist_ok=True)
    image = IMAGE.format(arch=arch)
    env = {**_clean_environment(), "UV_CACHE_DIR": str(base / "cache-uv")}
    cache = base / "cache-lambdapack"
    lp_env = {**env, "LAMBDAPACK_CACHE_DIR": str(cache)}
    for stale in (cache, base / "cache-uv"):
        shutil.rmtree(stale, ignore_errors=True)
    project = base / "project"
    fn = make_project(project, arch)
    dist = project / "dist"
    ours, theirs = dist / "fn.zip", base / "fn.zip"
    inputs = base / "inputs"
    print(f"containers {arch}: fetching the baseline's inputs ...", file=sys.stderr, flush=True)
    fetched = fetch_inputs(inputs, env)
    recipe = baseline(arch, base, fn)
    build = f"{LAMBDAPACK} build -C {project}"
    said = f"info [source-build] [{PACKAGE} {VERSION}]: built from its sdist {SDIST} in {image}"

    def clear(*entries: str) -> None:
        shutil.rmtree(dist, ignore_errors=True)
        if not cache.exists():
            return
        for entry in cache.iterdir():
            if entries and entry.name not in entries:
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    print(f"containers {arch}: one untimed run of each (uv's cache, the image's pages) ...", file=sys.stderr)
    run_timed(recipe, base, env)
    run_timed(build, base, lp_env)

    times: dict[str, list[float]] = {s: [] for s in SCENARIOS}
    cpu: dict[str, list[float]] = {s: [] for s in SCENARIOS}
    containers: dict[str, list[int]] = {s: [] for s in SCENARIOS}
    unexpected: list[dict[str, object]] = []  # creations while warm-sdist, warm or no-op ran

    def record(scenario: str, command: str, scenario_env: dict[str, str]) -> str:
        wall, used, output, start_ns, end_ns = run_timed(command, base, scenario_env)
        created = engine.created(start_ns, end_ns)
        times[scenario].append(wall)
        cpu[scenario].append(used)
        containers[scenario].append(len(created))
        if created and scenario not in ("baseline", "cold"):
            unexpected.append({"scenario": scenario, "events": created})
            print(f"containers {arch}: {scenario} saw {len(created)} container(s) created: {created}",
                  file=sys.stderr)  # fmt: skip
        return output

    def source_build_line(output: str, scenario: str) -> str:
        lines = [line.strip() for line in output.splitlines() if said in line]
        if len(lines) != 1:
            raise SystemExit(f"containers {arch}: {scenario} did not say '{said}':\n{output}")
        return lines[0]

    load_before = os.getloadavg()
    notes: dict[str, str] = {}
    for run in range(max(args.runs, args.cold_runs)):
        print(f"containers {arch}: round {run + 1} ...", file=sys.stderr, flush=True)
        if run < args.cold_runs:
            record("baseline", recipe, env)
            clear()
            line = source_build_line(record("cold", build, lp_env), "cold")
            if line.endswith(", from the cache") or containers["cold"][-1] == 0:
                raise SystemExit(f"containers {arch}: the cold build did not compile in a container: {line}")
            notes["cold"] = line
        if run < args.runs:
            clear("deps", "locks")
            if not any((cache / "built").glob("*/record.json")):
                raise SystemExit(f"containers {arch}: no built wheel in {cache / 'built'}")
            line = source_build_line(record("warm-sdist", build, lp_env), "warm-sdist")
            if not line.endswith(", from the cache"):
                raise SystemExit(f"containers {arch}: warm-sdist did not reuse the built wheel: {line}")
            notes["warm-sdist"] = line
            before = ours.read_bytes()
            with (fn / "app.py").open("a") as f:
                f.write(f"# edit {run}\n")
            record("warm", build, lp_env)
            if ours.read_bytes() == before:
                raise SystemExit(f"containers {arch}: the warm build did not change the zip")
            written = ours.stat()
            record("no-op", build, lp_env)
            after = ours.stat()
            if (after.st_mtime_ns, after.st_ino) != (written.st_mtime_ns, written.st_ino):
                raise SystemExit(f"containers {arch}: a no-op build rewrote the zip")
    load_after = os.getloadavg()
    return {
        "function": {
            "runtime": RUNTIME,
            "architecture": arch,
            "requirements": f"{PACKAGE}=={VERSION}",
            "sdists": "container",
        },
        "image": engine.image(image),
        "baseline": recipe,
        "baseline_inputs": fetched,
        "times": times,
        "cpu_times": cpu,
        "containers_created": containers,
        "unexpected_containers": unexpected,
        "source_build": notes,
        "sizes": {"lambdapack": _zip_summary(ours, arch), "baseline": _zip_summary(theirs, arch)},
        "load_average": {"before": load_before, "after": load_after},
    }


def _versions(env: dict[str, str], engine: Engine) -> dict[str, str]:
    def out(*command: str) -> str:
        return subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout.strip()

    return {
        "lambdapack": out(str(LAMBDAPACK), "--version"),
        "uv (lambdapack's)": out(str(LAMBDAPACK.parent / "uv"), "--version"),
        "uv (baseline)": out(str(BIN / "uv"), "--version"),
        "docker engine": engine.version(),
        "host machine": platform.machine(),
    }


def bench_containers(args: argparse.Namespace, work: Path) -> dict[str, object]:
    """Both architectures (``args.archs``), and the tools' versions."""
    requirements = install_docker_extra()
    env = _clean_environment()
    engine = Engine(env)
    results = {}
    for arch in args.archs.split(","):
        if arch not in PLATFORM:
            raise SystemExit(f"containers: unknown architecture {arch!r}")
        results[arch] = bench_arch(arch, args, work, engine)
    return {"architectures": results, "tools": _versions(env, engine), "docker_extra": requirements}


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report_containers(result: dict[str, object]) -> list[str]:
    tools = result["tools"]
    lines = [
        f"Source builds in containers: {RUNTIME}, {PACKAGE}=={VERSION} (sdist only, C++) + app.py, "
        f'sdists = "container"; {tools["lambdapack"]}, docker engine {tools["docker engine"]} '  # type: ignore[index]
        f"on {tools['host machine']}; medians (cpu = user + system time of the process tree, "  # type: ignore[index]
        "not of the container)"
    ]
    for arch, r in result["architectures"].items():  # type: ignore[attr-defined]
        times, cpu, made = r["times"], r["cpu_times"], r["containers_created"]
        m = {s: median(v) for s, v in times.items()}
        c = {s: median(v) for s, v in cpu.items()}
        base = m["baseline"]
        image = r["image"]
        kind = "stand-in" if image["stand_in"] else "image"
        lines += [
            "",
            f"{arch}: {image['name']} ({kind} {str(image['id'])[:19]}, {image['architecture']})",
            f"{'scenario':<10} {'runs':>4} {'time':>9} {'cpu':>8} {'/base':>7} {'containers':>10}  target",
            "-" * 72,
        ]
        targets = {
            "baseline": "",
            "cold": f"<= {TARGET_COLD_RATIO}x: {_verdict(m['cold'] <= TARGET_COLD_RATIO * base)}",
            "warm-sdist": f"0 containers: {_verdict(not any(made['warm-sdist']))}",
            "warm": f"<= {TARGET_WARM_RATIO}x: {_verdict(m['warm'] <= TARGET_WARM_RATIO * base)}",
            "no-op": f"<= {TARGET_NOOP_SECONDS} s: {_verdict(m['no-op'] <= TARGET_NOOP_SECONDS)}",
        }
        for s in SCENARIOS:
            counts = ",".join(str(n) for n in sorted(set(made[s])))
            lines.append(
                f"{s:<10} {len(times[s]):>4} {m[s]:>8.3f}s {c[s]:>7.3f}s {m[s] / base:>7.3f} "
                f"{counts:>10}  {targets[s]}"
            )
        ours, theirs = r["sizes"]["lambdapack"], r["sizes"]["baseline"]
        same = "the same" if ours["extension_sha256"] == theirs["extension_sha256"] else "different"
        lines.append(
            f"zips: lambdapack {ours['bytes']:,} bytes, {ours['files']} files; "
            f"baseline {theirs['bytes']:,} bytes, {theirs['files']} files; "
            f"{ours['extension']} {ours['extension_bytes']:,} / "
            f"{theirs['extension_bytes']:,} bytes ({same} bytes)"
        )
        load = r["load_average"]
        lines.append(f"load average (1 min) {load['before'][0]:.2f} before, {load['after'][0]:.2f} after")
    return lines


def main() -> None:
    parser = standalone_parser(__doc__, runs=3, cold_runs=3)
    parser.add_argument("--archs", default="x86_64,arm64")
    args = parser.parse_args()
    run_alone(
        "containers",
        args,
        bench_containers,
        report_containers,
        {"runs": args.runs, "cold_runs": args.cold_runs, "archs": args.archs},
    )


if __name__ == "__main__":
    main()
