"""The remote cache (S3, docs/remote-cache.md): a cold build from a warm bucket, and no-ops that ask nothing.

    env -u PYTHONDONTWRITEBYTECODE .venv/bin/python bench/remote_cache.py [--runs 5] [--cold-runs 3]
                                                  [--ab-runs 30] [--workdir DIR] [--ref REF]
    env -u PYTHONDONTWRITEBYTECODE .venv/bin/python bench/run.py --only remote_cache [--runs 5]
                                                  [--cold-runs 3]

Needs the network (PyPI) for the first build and for the "fresh" rows, and
moto's server (the dev extra: `moto[server]`), which tests/s3_server.py runs
on 127.0.0.1 as the store. The function: python3.12 on x86_64, run.py's
app.py and five small modules, and a requirements.txt of numpy==2.2.6 and
pandas==2.2.3 with NO lock file committed: resolving them is part of a cold
build, as is installing, checking and compressing them.

lambdapack is measured as users install it (a wheel of the working tree, or
of --ref, in bench/.venv, see run.py), plus the requirements of its `s3`
extra (boto3: `pip install 'lambdapack[s3]'`). Every run is
`lambdapack build -q -C PROJECT`, a whole process, in an environment without
the machine's AWS, uv or lambdapack settings. uv's download cache
(UV_CACHE_DIR) is filled by one untimed build first and stays warm, as on a
CI runner that keeps a package download cache; then one untimed build with
an empty lambdapack cache and the remote in read-write mode, with
LAMBDAPACK_CACHE_SIGNING_KEY set, fills the bucket (through a counting proxy,
which must see its requests: the proxy's counter works). Then --runs rounds,
in this order:

  fresh       (the first --cold-runs rounds) every cache empty, uv's too (a
              new uv cache directory), no remote: a truly fresh machine, which
              downloads the wheels from PyPI while timed
  cold        lambdapack's cache empty (LAMBDAPACK_CACHE_DIR moved away) and
              no previous output, uv's download cache warm, no remote: the
              fair baseline
  cold+remote the same, with the remote (moto, straight) and the same signing
              key, read-write: the lock and the dependency set come from the
              bucket; checked after the run (`lambdapack cache info --json`):
              hits, no miss, no upload, no error, nothing ignored; its zip must
              be byte for byte the "cold" zip
  no-op+remote  again, nothing changed, the remote configured with its
              endpoint a FaultProxy (tests/s3_server.py, mode "pass") in front
              of moto, which counts the requests it gets: must be 0; the zip
              must keep its inode and mtime
  no-op       again, without the remote

After the rounds, one untimed no-op with the remote under `python -X
importtime` checks that boto3/botocore are not imported, and one untimed
cold+remote with `-v` and UV_CACHE_DIR a missing directory records the run's
figures and whether it ran uv (it did if the directory appeared).

Then an interleaved A/B of no-op builds without a remote (the issue: a no-op
without a remote cache must not get slower): the commit before the remote
cache (062a586, --before) against the measured lambdapack, each installed
into a new virtual environment of the work directory (the measured one with
the s3 extra: bench/.venv holds other benchmarks' packages too), each on its
own copy of the project and its own cache (filled by one build), --ab-runs
rounds, the order rotated every round; the measured one also with the remote
configured (through the proxy: 0 requests again).

Emptied caches and outputs are moved aside and deleted only after the
timing: on this machine's file system, creating files in the minutes after
thousands were deleted is several times slower (see Trash), which a fresh
CI machine does not pay.

The issue's targets: cold+remote <= 0.3x cold; no-op+remote <= 0.25 s with
no network request; a no-op without remote no slower than before (here: the
median of the per-round differences from the before commit within 5 % of its
median; single no-ops on this machine vary by 0.1 s). Medians of
whole-process wall times; cpu = user + system of the process tree; the load
average is recorded. The raw numbers go to bench/results/remote_cache.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path

from node import Recorder, run_timed
from run import (
    LAMBDAPACK,
    REPO,
    _clean_environment,
    install_extra,
    install_lambdapack,
    make_function,
    median,
    run_alone,
    standalone_parser,
)

sys.path.insert(0, str(REPO / "tests"))
from s3_server import (  # tests/s3_server.py: moto on loopback, and a counting proxy
    UNSET_AWS_VARIABLES,
    FaultProxy,
    MotoServer,
    aws_environment,
    s3_client,
)

RUNTIME = "python3.12"
ARCH = "x86_64"
REQUIREMENTS = ["numpy==2.2.6", "pandas==2.2.3"]
#: The commit before the remote cache (5bf7754): the "before" of the no-op A/B.
BEFORE = "062a586"
PREFIX = "bench"

#: The issue's targets.
TARGET_REMOTE_RATIO = 0.3
TARGET_NOOP_SECONDS = 0.25
#: A no-op without remote "no slower": the median of the per-round differences from the
#: before commit at most this fraction of the before commit's median.
NOOP_TOLERANCE = 0.05

SCENARIOS = ("fresh", "cold", "cold+remote", "no-op+remote", "no-op")
AB = ("before", "after", "after+remote")
#: Rounds of the no-op A/B (its differences are a few ms in about 0.25 s: single runs vary by 0.1 s).
AB_RUNS = 30
#: Figures a cold build from a warm remote must leave at 0.
NEVER_ON_A_HIT = ("misses", "uploads", "ignored", "errors")

CONFIG = f"""\
runtime = "{RUNTIME}"
architecture = "{ARCH}"
exclude = ["requirements.txt"]

[functions.fn]
source = "fn"
handler = "app.handler"
"""


def make_project(project: Path) -> None:
    if project.exists():
        shutil.rmtree(project)
    make_function(project / "fn", REQUIREMENTS)
    (project / "lambdapack.toml").write_text(CONFIG)


def install_s3_extra(python: Path) -> list[str]:
    """The requirements of lambdapack's ``s3`` extra, installed into the venv of ``python``."""
    return install_extra(python, "s3")


def environment() -> dict[str, str]:
    """run.py's clean environment without any AWS or proxy setting of the machine's either."""
    env = _clean_environment()
    for name in list(env):
        if name.upper().startswith("AWS_") or name in UNSET_AWS_VARIABLES:
            del env[name]
    env["NO_PROXY"] = ",".join(filter(None, (env.get("NO_PROXY"), "127.0.0.1", "localhost")))
    return env


class Trash:
    """Where emptied caches go until the timing is over. Deleting thousands of
    files makes creating files slow for the next minutes on some file systems
    (ext4 without a journal, as on this machine: inode allocation skips the
    inodes freed in the last 60-360 s, one inode table lookup each), which a
    build right after `rm -rf` of the previous one would pay; a fresh CI
    machine does not. Renaming frees no inode."""

    def __init__(self, root: Path) -> None:
        self.root = root
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        self._count = 0

    def put(self, path: Path) -> None:
        if path.exists():
            self._count += 1
            path.rename(self.root / f"{self._count:04}-{path.name}")

    def empty(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir()


#: Empty files the probe creates (a cold build from the remote writes 3,660 files).
PROBE_FILES = 1000


def _creation_probe(base: Path, trash: Trash) -> float:
    """Seconds to create PROBE_FILES empty files in a new directory: how fast
    the file system allocates inodes right now (see Trash)."""
    directory = Path(tempfile.mkdtemp(dir=base, prefix="probe-"))
    start = time.perf_counter()
    for n in range(PROBE_FILES):
        (directory / f"{n:04}").touch()
    elapsed = time.perf_counter() - start
    trash.put(directory)
    return elapsed


def _signature(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_mtime_ns, info.st_ino


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _zip_summary(path: Path) -> dict[str, int]:
    with zipfile.ZipFile(path) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
    return {"bytes": path.stat().st_size, "files": len(infos), "unzipped": sum(i.file_size for i in infos)}


def remote_figures(lambdapack: Path, env: dict[str, str]) -> dict[str, int]:
    """The remote's figures in the local cache's record (`lambdapack cache info --json`):
    one run's, when the cache was emptied before it."""
    done = subprocess.run(
        [str(lambdapack), "cache", "info", "--json"], env=env, capture_output=True, text=True, check=True
    )
    remotes = json.loads(done.stdout).get("remote") or {}
    if len(remotes) > 1:
        raise SystemExit(f"remote_cache: figures for several remotes: {sorted(remotes)}")
    return dict(next(iter(remotes.values()), {}))


def bench_remote_cache(args: argparse.Namespace, work: Path) -> dict[str, object]:
    """The rounds and the A/B; see the module's docstring."""
    base = work / "remote-cache"
    base.mkdir(parents=True, exist_ok=True)
    extra = install_s3_extra(LAMBDAPACK.parent / "python")
    moto = base / "moto"  # its log
    shutil.rmtree(moto, ignore_errors=True)
    moto.mkdir()
    with MotoServer(moto) as server, FaultProxy(server.endpoint) as proxy:
        return _bench(args, base, server, proxy, extra)


def _bench(
    args: argparse.Namespace, base: Path, server: MotoServer, proxy: FaultProxy, extra: list[str]
) -> dict[str, object]:
    runs, fresh_runs = args.runs, min(args.cold_runs, args.runs)
    ab_runs = getattr(args, "ab_runs", AB_RUNS)
    before_ref = getattr(args, "before", BEFORE)
    bucket = f"lp-bench-{uuid.uuid4().hex[:8]}"
    client = s3_client(server.endpoint)
    client.create_bucket(Bucket=bucket)
    url = f"s3://{bucket}/{PREFIX}"

    project, cache, uv_cache = base / "project", base / "cache-lambdapack", base / "cache-uv"
    for stale in (cache, uv_cache):
        shutil.rmtree(stale, ignore_errors=True)
    make_project(project)
    dist, ours = project / "dist", project / "dist" / "fn.zip"
    env = {**environment(), "UV_CACHE_DIR": str(uv_cache), "LAMBDAPACK_CACHE_DIR": str(cache)}
    key = secrets.token_hex(32)
    remote = {
        **env,
        **aws_environment(server.endpoint, base / "aws-home"),
        "LAMBDAPACK_REMOTE_CACHE": url,
        "LAMBDAPACK_CACHE_SIGNING_KEY": key,
    }
    proxied = {**remote, "AWS_ENDPOINT_URL": proxy.endpoint}
    build = f"{LAMBDAPACK} build -q -C {project}"

    trash = Trash(base / "trash")

    def empty() -> None:
        trash.put(dist)
        trash.put(cache)

    print("remote_cache: filling uv's download cache (untimed) ...", file=sys.stderr, flush=True)
    run_timed(build, base, env)
    print("remote_cache: filling the bucket (untimed, through the proxy) ...", file=sys.stderr, flush=True)
    empty()
    proxy.clear()
    fill_wall, _ = run_timed(build, base, proxied)
    shared = remote_figures(LAMBDAPACK, proxied)
    fill = {"wall": fill_wall, "figures": shared, "proxy_requests": proxy.requests}
    if shared.get("uploads", 0) < 2 or not proxy.requests:
        raise SystemExit(f"remote_cache: the filling build shared nothing: {fill}")
    objects = client.list_objects_v2(Bucket=bucket, Prefix=PREFIX).get("Contents", [])
    stored = {item["Key"].removeprefix(f"{PREFIX}/"): item["Size"] for item in objects}

    record = Recorder(SCENARIOS)
    noop_requests: list[int] = []
    probes: list[float] = []
    remote_runs: list[dict[str, int]] = []
    reference: str | None = None

    load_before = os.getloadavg()
    for run in range(runs):
        print(f"remote_cache: round {run + 1} of {runs} ...", file=sys.stderr, flush=True)
        if run < fresh_runs:
            fresh_uv = Path(tempfile.mkdtemp(dir=base, prefix="fresh-uv-"))
            empty()
            record("fresh", build, base, {**env, "UV_CACHE_DIR": str(fresh_uv)})
            trash.put(fresh_uv)
        empty()
        record("cold", build, base, env)
        cold_zip = _sha256(ours)
        if reference is None:
            reference = cold_zip
        probes.append(_creation_probe(base, trash))
        empty()
        record("cold+remote", build, base, remote)
        figures = remote_figures(LAMBDAPACK, remote)
        remote_runs.append(figures)
        if figures.get("hits", 0) < 2 or any(figures.get(f, 0) for f in NEVER_ON_A_HIT):
            raise SystemExit(f"remote_cache: the cold build with a warm remote did not only hit: {figures}")
        if not (_sha256(ours) == cold_zip == reference):
            raise SystemExit("remote_cache: the zip from the remote cache differs from the cold build's")
        written = _signature(ours)
        proxy.clear()
        record("no-op+remote", build, base, proxied)
        noop_requests.append(proxy.requests)
        record("no-op", build, base, env)
        if _signature(ours) != written:
            raise SystemExit("remote_cache: a no-op build rewrote the zip")
    load_after = os.getloadavg()
    if any(noop_requests):
        print(f"remote_cache: NO-OP BUILDS MADE REQUESTS: {noop_requests} {proxy.log}", file=sys.stderr)

    imports = _noop_imports(project, proxied, base)
    verbose = _verbose_remote_build(empty, project, remote, base)
    ab = _ab(base, (before_ref, getattr(args, "ref", None)), ab_runs, proxied, proxy)
    trash.empty()
    return {
        "function": {"runtime": RUNTIME, "architecture": ARCH, "requirements": REQUIREMENTS},
        "s3_extra": extra,
        "bucket_objects": stored,
        "fill": fill,
        "times": record.times,
        "cpu_times": record.cpu,
        "remote_figures": remote_runs,
        "noop_requests": noop_requests,
        "creation_probe": probes,
        "noop_imports_boto": imports,
        "verbose_remote_build": verbose,
        "zip": _zip_summary(ours),
        "zip_sha256": reference,
        "tools": {"moto": _moto_version(), "uv": _uv_version(env)},
        "load_average": {"before": load_before, "after": load_after},
        "ab": ab,
    }


def _noop_imports(project: Path, env: dict[str, str], cwd: Path) -> list[str]:
    """The boto3/botocore/s3transfer modules a no-op build with the remote configured imports."""
    python = LAMBDAPACK.parent / "python"
    done = subprocess.run(
        [str(python), "-X", "importtime", "-m", "lambdapack", "build", "-q", "-C", str(project)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    modules = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line]
    if "lambdapack" not in {m.split(".")[0] for m in modules}:
        raise SystemExit(f"remote_cache: -X importtime showed no import of lambdapack: {done.stderr[:500]}")
    return [m for m in modules if m.split(".")[0] in ("boto3", "botocore", "s3transfer")]


def _verbose_remote_build(
    empty: Callable[[], None], project: Path, env: dict[str, str], cwd: Path
) -> dict[str, object]:
    """One more untimed cold build from the warm remote, with -v (its remote
    line) and UV_CACHE_DIR a missing directory: still missing afterwards if
    the build ran no uv."""
    empty()
    uv_cache = cwd / "uv-cache-never-made"
    shutil.rmtree(uv_cache, ignore_errors=True)
    done = subprocess.run(
        [str(LAMBDAPACK), "build", "-v", "-C", str(project)],
        cwd=cwd,
        env={**env, "UV_CACHE_DIR": str(uv_cache)},
        capture_output=True,
        text=True,
        check=True,
    )
    return {
        "remote_lines": [line for line in (done.stdout + done.stderr).splitlines() if "remote" in line],
        "ran_uv": uv_cache.exists(),
    }


def _ab(
    base: Path,
    refs: tuple[str, str | None],
    runs: int,
    proxied: dict[str, str],
    proxy: FaultProxy,
) -> dict[str, object]:
    """Interleaved no-op builds: the before commit against the measured lambdapack
    (without, and with the remote configured), each installed into a new virtual
    environment of the work directory (the measured one with the s3 extra), each
    on its own copy of the project and its own cache."""
    before_ref = refs[0]
    venvs = {"before": base / "venv-before", "after": base / "venv-after"}
    for side, ref in zip(venvs, refs, strict=True):
        what = ref or "the working tree"
        print(f"remote_cache: installing lambdapack ({what}) for the A/B ...", file=sys.stderr, flush=True)
        shutil.rmtree(venvs[side], ignore_errors=True)
        install_lambdapack(ref, venv=venvs[side])
    install_s3_extra(venvs["after"] / "bin" / "python")
    sides = {"before": "before", "after": "after", "after+remote": "after"}
    projects = {side: base / f"ab-{side}" for side in venvs}
    caches = {side: base / f"ab-cache-{side}" for side in venvs}
    plain = {k: v for k, v in proxied.items() if not k.startswith(("AWS_", "LAMBDAPACK_"))}
    envs: dict[str, dict[str, str]] = {}
    for name, side in sides.items():
        given = proxied if name == "after+remote" else plain
        envs[name] = {**given, "LAMBDAPACK_CACHE_DIR": str(caches[side])}
    binaries = {side: venvs[side] / "bin" / "lambdapack" for side in venvs}
    commands = {name: f"{binaries[side]} build -q -C {projects[side]}" for name, side in sides.items()}
    for side, project in projects.items():
        shutil.rmtree(caches[side], ignore_errors=True)
        make_project(project)
        run_timed(commands[side], base, envs[side])  # the build the no-ops follow
    zips = {side: project / "dist" / "fn.zip" for side, project in projects.items()}
    written = {side: _signature(z) for side, z in zips.items()}
    record = Recorder(AB)
    requests: list[int] = []
    load_before = os.getloadavg()
    for run in range(runs):
        order = AB[run % len(AB) :] + AB[: run % len(AB)]
        for name in order:
            proxy.clear()
            record(name, commands[name], base, envs[name])
            if name == "after+remote":
                requests.append(proxy.requests)
    load_after = os.getloadavg()
    if any(_signature(z) != written[side] for side, z in zips.items()):
        raise SystemExit("remote_cache: an A/B no-op rewrote a zip")
    return {
        "before": before_ref,
        "before_commit": subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", f"{before_ref}^{{commit}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip(),
        "times": record.times,
        "cpu_times": record.cpu,
        "requests": requests,
        "same_zip": _sha256(zips["before"]) == _sha256(zips["after"]),
        "load_average": {"before": load_before, "after": load_after},
    }


def _moto_version() -> str:
    import moto

    return str(moto.__version__)


def _uv_version(env: dict[str, str]) -> str:
    uv = LAMBDAPACK.parent / "uv"
    done = subprocess.run([str(uv), "--version"], capture_output=True, text=True, check=False, env=env)
    return done.stdout.strip()


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report_remote_cache(result: dict[str, object]) -> list[str]:
    times, cpu = result["times"], result["cpu_times"]
    m = {s: median(v) for s, v in times.items()}  # type: ignore[attr-defined]
    c = {s: median(v) for s, v in cpu.items()}  # type: ignore[attr-defined]
    lo = {s: min(v) if v else float("nan") for s, v in times.items()}  # type: ignore[attr-defined]
    n = {s: len(v) for s, v in times.items()}  # type: ignore[attr-defined]
    fn, tools, z = result["function"], result["tools"], result["zip"]
    requests = result["noop_requests"]
    ratio = m["cold+remote"] / m["cold"]
    lines = [
        f"Remote cache: {fn['runtime']} {fn['architecture']}, {' + '.join(fn['requirements'])} "  # type: ignore[index]
        f"(no lock committed); store: moto {tools['moto']} on loopback; {tools['uv']}; "  # type: ignore[index]
        "medians (cpu = user + system time)",
        f"{'scenario':<13} {'runs':>4} {'time':>9} {'min':>8} {'cpu':>8} {'/cold':>7}  target",
        "-" * 78,
    ]
    targets = {
        "fresh": "",
        "cold": "",
        "cold+remote": f"<= {TARGET_REMOTE_RATIO}x cold: {_verdict(ratio <= TARGET_REMOTE_RATIO)}",
        "no-op+remote": (
            f"<= {TARGET_NOOP_SECONDS} s, 0 requests: "
            f"{_verdict(m['no-op+remote'] <= TARGET_NOOP_SECONDS and not any(requests))}"  # type: ignore[arg-type]
        ),
        "no-op": "",
    }
    for s in SCENARIOS:
        if not n[s]:
            continue
        lines.append(
            f"{s:<13} {n[s]:>4} {m[s]:>8.3f}s {lo[s]:>7.3f}s {c[s]:>7.3f}s {m[s] / m['cold']:>7.3f}  "
            f"{targets[s]}"
        )
    objects: dict[str, int] = result["bucket_objects"]  # type: ignore[assignment]
    runs: list[dict[str, int]] = result["remote_figures"]  # type: ignore[assignment]
    total = sum(objects.values())
    down = [f.get("bytes_down", 0) for f in runs]
    lines.append(
        f"requests of the no-ops with the remote: {requests} (the filling build's: "
        f"{result['fill']['proxy_requests']}); boto modules a no-op imports: "  # type: ignore[index]
        f"{len(result['noop_imports_boto'])}"  # type: ignore[arg-type]
    )
    lines.append(
        "bucket: "
        + ", ".join(f"{k.split('/')[-2]} {v:,} B" for k, v in sorted(objects.items()))
        + f"; every cold+remote run: {sorted({f.get('hits', 0) for f in runs})} hits, "
        f"{sum(f.get(k, 0) for f in runs for k in NEVER_ON_A_HIT)} misses/uploads/ignored/errors"
    )
    lines.append(
        f"bytes down as lambdapack counts them (figures, per run): {', '.join(f'{d:,}' for d in down)}; "
        f"the objects: {total:,}" + ("" if all(d == total for d in down) else " (MISCOUNTED)")
    )
    lines.append(
        f"zip: {z['bytes']:,} bytes, {z['files']:,} files ({z['unzipped']:,} unzipped), "  # type: ignore[index]
        "byte-identical with and without the remote"
    )
    load, probes = result["load_average"], result["creation_probe"]
    lines.append(
        f"load average (1 min) {load['before'][0]:.2f} before, {load['after'][0]:.2f} after; "  # type: ignore[index]
        f"creating {PROBE_FILES:,} empty files before each cold+remote: "
        + ", ".join(f"{p:.3f}s" for p in probes)  # type: ignore[attr-defined]
    )
    lines += ["", *report_ab(result["ab"])]  # type: ignore[arg-type]
    return lines


def report_ab(ab: dict[str, object]) -> list[str]:
    times = ab["times"]
    m = {s: median(v) for s, v in times.items()}  # type: ignore[attr-defined]
    lo = {s: min(v) for s, v in times.items()}  # type: ignore[attr-defined]
    c = {s: median(v) for s, v in ab["cpu_times"].items()}  # type: ignore[attr-defined]
    n = {s: len(v) for s, v in times.items()}  # type: ignore[attr-defined]
    lines = [
        f"No-op A/B, interleaved (order rotated each round): {ab['before']} (before the remote cache) "
        "against the measured lambdapack",
        f"{'lambdapack':<13} {'runs':>4} {'median':>9} {'min':>8} {'cpu':>8} {'/before':>8} {'paired':>9}",
        "-" * 65,
    ]
    paired = {
        s: median([a - b for a, b in zip(times[s], times["before"], strict=True)])  # type: ignore[index]
        for s in AB
    }
    for s in AB:
        lines.append(
            f"{s:<13} {n[s]:>4} {m[s]:>8.3f}s {lo[s]:>7.3f}s {c[s]:>7.3f}s {m[s] / m['before']:>8.3f} "
            f"{paired[s] * 1000:>+7.1f}ms"
        )
    ok = paired["after"] <= NOOP_TOLERANCE * m["before"]
    load = ab["load_average"]
    lines.append(
        f"paired = median of the per-round differences from before; no-op without remote no slower "
        f"(paired <= {NOOP_TOLERANCE:.0%} of before's median): {_verdict(ok)}; requests of the no-ops "
        f"with the remote: {sum(ab['requests'])} in {len(ab['requests'])} runs; "  # type: ignore[arg-type]
        f"load average (1 min) {load['before'][0]:.2f} before, {load['after'][0]:.2f} after"  # type: ignore[index]
    )
    return lines


def main() -> None:
    parser = standalone_parser(__doc__, runs=5, cold_runs=3)
    parser.add_argument("--ab-runs", type=int, default=AB_RUNS, help="rounds of the no-op A/B")
    parser.add_argument("--before", default=BEFORE, help="the A/B's before commit")
    args = parser.parse_args()
    saved = {"runs": args.runs, "cold_runs": args.cold_runs, "ab_runs": args.ab_runs, "before": args.before}
    run_alone("remote_cache", args, bench_remote_cache, report_remote_cache, saved)


if __name__ == "__main__":
    main()
