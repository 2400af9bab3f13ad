"""Every kind of bad input a user (or the machine) can give: one line naming
the file, key or path, the documented exit code (docs/errors.md), never exit
code 70, and the outputs of the earlier build left as they were."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import WHEELHOUSE, cli, offline_requirements, write_tree

CONFIG = (
    'runtime = "python3.12"\narchitecture = "arm64"\n\n'
    '[functions.api]\nsource = "api"\nhandler = "app.handler"\n'
)
HANDLER = "def handler(event, context):\n    return 1\n"


def _config(extra: str = "", function: str = "") -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        (root / "lambdapack.toml").write_text(
            extra + CONFIG.replace('handler = "app.handler"\n', 'handler = "app.handler"\n' + function)
        )

    return mutate


def _write(name: str, content: str | bytes) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)

    return mutate


def _both(*mutations: Callable[[Path], None]) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        for m in mutations:
            m(root)

    return mutate


def _nothing(_root: Path) -> None:
    pass


def _symlink_out(root: Path) -> None:
    (root / "api" / "secret").symlink_to("/etc/hostname")


def _stale_lock(root: Path) -> None:
    (root / "api" / "requirements.txt").write_text(offline_requirements("lpfix-base"))
    (root / "api" / "requirements.python3.12-arm64.lock.txt").write_text("lpfix-base==1.0.0\n")


def _tampered_wheel(root: Path) -> None:
    house = root / "house"
    shutil.copytree(WHEELHOUSE, house, ignore=shutil.ignore_patterns("simple", "*.py"))
    (wheel,) = house.glob("lpfix_base-1.0.0-*.whl")
    line = f"lpfix-base==1.0.0 --hash=sha256:{'0' * 64}\n"
    (root / "api" / "requirements.txt").write_text(f"--no-index\n--find-links {house}\n{line}")
    assert wheel.exists()


Case = tuple[str, Callable[[Path], None], tuple[str, ...], int, str]

CASES: list[Case] = [
    # configuration: exit code 2, the file and the dotted key
    (
        "unknown top-level key",
        _config("runtim = 'x'\n"),
        ("build",),
        2,
        "runtim: unknown key (did you mean 'runtime'?)",
    ),
    (
        "unknown function key",
        _config(function="hander = 'x'\n"),
        ("build",),
        2,
        "functions.api.hander: unknown key",
    ),
    (
        "unsupported runtime",
        _config(function="runtime = 'python3.8'\n"),
        ("build",),
        2,
        "functions.api.runtime: 'python3.8' is not a supported runtime",
    ),
    (
        "unsupported architecture",
        _config(function="architecture = 'arm'\n"),
        ("build",),
        2,
        "functions.api.architecture: 'arm' is not a supported architecture",
    ),
    (
        "handler of the wrong type",
        lambda r: (r / "lambdapack.toml").write_text(CONFIG.replace('"app.handler"', "5")),
        ("build",),
        2,
        "functions.api.handler: must be a non-empty string, not 5",
    ),
    (
        "handler not MODULE.FUNCTION",
        lambda r: (r / "lambdapack.toml").write_text(CONFIG.replace('"app.handler"', '"app"')),
        ("build",),
        2,
        "functions.api.handler: 'app' is not MODULE.FUNCTION",
    ),
    (
        "missing handler",
        lambda r: (r / "lambdapack.toml").write_text(CONFIG.replace('handler = "app.handler"\n', "")),
        ("build",),
        2,
        "functions.api.handler: missing",
    ),
    (
        "source directory missing",
        lambda r: (r / "lambdapack.toml").write_text(CONFIG.replace('"api"', '"nope"')),
        ("build",),
        2,
        "functions.api.source: directory 'nope' does not exist",
    ),
    (
        "exclude not a list",
        _config(function="exclude = 'tests/'\n"),
        ("build",),
        2,
        "functions.api.exclude: must be a list of gitignore-style patterns",
    ),
    (
        "extras not a list",
        _config(function="extras = 'web'\n"),
        ("build",),
        2,
        "functions.api.extras: must be a list of extra names",
    ),
    (
        "requirements file missing",
        _config(function="requirements = 'nope.txt'\n"),
        ("build",),
        2,
        "functions.api.requirements: file 'nope.txt' does not exist",
    ),
    (
        "requirements of an unknown kind",
        _both(_write("deps.cfg", "x"), _config(function="requirements = 'deps.cfg'\n")),
        ("build",),
        2,
        "functions.api.requirements: not a supported requirements input",
    ),
    (
        "exclude_runtime_packages not a flag",
        _config("exclude_runtime_packages = 'yes'\n"),
        ("build",),
        2,
        "exclude_runtime_packages: must be true or false",
    ),
    (
        "functions not a table",
        _write("lambdapack.toml", 'runtime = "python3.12"\nfunctions = 3\n'),
        ("build",),
        2,
        "functions: must be a table of functions",
    ),
    (
        "no functions",
        _write("lambdapack.toml", 'runtime = "python3.12"\n'),
        ("build",),
        2,
        "functions: no functions defined",
    ),
    (
        "lambdapack.toml not TOML",
        _write("lambdapack.toml", "runtime = \n"),
        ("build",),
        2,
        "lambdapack.toml: not valid TOML",
    ),
    (
        "function name with a space",
        _write("lambdapack.toml", CONFIG.replace("[functions.api]", '[functions."my api"]')),
        ("build",),
        2,
        "functions.my api: function names may hold only",
    ),
    (
        "function name too long",
        _write("lambdapack.toml", CONFIG.replace("[functions.api]", f"[functions.{'a' * 300}]")),
        ("build",),
        2,
        "function names may be at most 200 characters",
    ),
    (
        "SOURCE_DATE_EPOCH not a number",
        _nothing,
        ("build", "@SOURCE_DATE_EPOCH=yesterday"),
        2,
        "SOURCE_DATE_EPOCH: 'yesterday' is not a whole number",
    ),
    # the command line: exit code 2
    ("unknown function name", _nothing, ("build", "apj"), 2, "unknown function 'apj' (did you mean 'api'?)"),
    (
        "--handler without --source",
        _nothing,
        ("build", "--handler", "app.handler"),
        2,
        "--handler only apply with --source",
    ),
    (
        "--source without --handler",
        _nothing,
        ("build", "--source", "api"),
        2,
        "--source needs --handler, --runtime, --architecture",
    ),
    (
        "names and --source",
        _nothing,
        ("build", "api", "--source", "api"),
        2,
        "give either function NAMES or --source",
    ),
    (
        "--source over a configured function",
        _nothing,
        (
            "build",
            "--source",
            "api",
            "--handler",
            "app.handler",
            "--runtime",
            "python3.12",
            "--architecture",
            "arm64",
        ),
        2,
        "configures a function named 'api' with the same output",
    ),
    ("output is a file", _write("out", "x"), ("build", "-o", "out"), 2, "is a file, not a directory"),
    ("hash of a missing file", _nothing, ("hash", "nope.zip"), 2, "nope.zip: No such file or directory"),
    (
        "check of a missing zip",
        _nothing,
        ("check", "nope.zip", "--runtime", "python3.12", "--architecture", "arm64"),
        2,
        "nope.zip: no such file",
    ),
    (
        "check options with names",
        _nothing,
        ("check", "api", "--runtime", "python3.12"),
        2,
        "--runtime, --architecture, --handler and --layer apply to ZIP files only",
    ),
    ("terraform query not JSON", _nothing, ("terraform", "@stdin={"), 2, "terraform query: not JSON"),
    (
        "terraform query without function",
        _nothing,
        ("terraform", "@stdin={}"),
        2,
        "terraform query: give 'function' or 'layer' (one of them)",
    ),
    # sources and the machine: exit code 1, the path
    (
        "-o below a file",
        _write("out", "x"),
        ("build", "-o", "out/dist"),
        1,
        "out/dist: cannot create the output directory: Not a directory",
    ),
    (
        "invalid exclude pattern",
        _config(function='exclude = ["\\\\"]\n'),
        ("build",),
        1,
        "exclude: invalid pattern '\\\\'",
    ),
    (
        "invalid .gitignore pattern",
        _write("api/.gitignore", "\\\n"),
        ("build",),
        1,
        "api/.gitignore: Invalid git pattern",
    ),
    (
        "symlink out of the project",
        _symlink_out,
        ("build",),
        1,
        "api: secret: symlink points outside the project",
    ),
    (
        "backslash in a source name",
        _write("api/..\\..\\evil.txt", "x"),
        ("build",),
        1,
        "the file name holds a backslash",
    ),
    (
        "manifest not JSON",
        _write("dist/lambdapack-manifest.json", "{"),
        ("build",),
        1,
        "lambdapack-manifest.json: not valid JSON",
    ),
    (
        "manifest of another version",
        _write("dist/lambdapack-manifest.json", '{"version": 2, "artifacts": {}}'),
        ("build",),
        1,
        "not a version 1 lambdapack manifest",
    ),
    (
        "package not in the index",
        _write("api/requirements.txt", offline_requirements("lpfix-nowhere")),
        ("build",),
        1,
        "api: cannot resolve requirements.txt",
    ),
    ("hash mismatch", _tampered_wheel, ("build",), 1, "api: hash mismatch for lpfix-base==1.0.0"),
    # checks: exit code 3
    (
        "handler not defined",
        _write("api/app.py", "def other(e, c):\n    return 1\n"),
        ("build",),
        3,
        "api: error [handler] app.py: handler 'app.handler': app.py defines no 'handler'",
    ),
    (
        "handler does not parse",
        _write("api/app.py", "def handler(:\n"),
        ("build",),
        3,
        "handler module does not parse",
    ),
    (
        "inspect of a non-zip",
        _write("x.zip", "hello"),
        ("inspect", "x.zip"),
        3,
        "x.zip: not a readable zip file",
    ),
    # stale: exit code 4
    (
        "--locked without a lock",
        _write("api/requirements.txt", offline_requirements("lpfix-base")),
        ("build", "--locked"),
        4,
        "--locked: api/requirements.python3.12-arm64.lock.txt: missing",
    ),
    (
        "lock --check of a hand-made lock",
        _stale_lock,
        ("lock", "--check"),
        4,
        "requirements.python3.12-arm64.lock.txt: stale",
    ),
    (
        "build --check after an edit",
        _write("api/app.py", HANDLER + "# changed\n"),
        ("build", "--check", "-q"),
        4,
        "api: dist/api.zip has code_sha256",
    ),
]


def _outputs(root: Path) -> dict[str, bytes]:
    dist = root / "dist"
    keep = {"api.zip", "lambdapack-manifest.json"}
    return {p.name: p.read_bytes() for p in sorted(dist.iterdir()) if p.name in keep}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_tree(
        tmp_path_factory.mktemp("errors") / "project", {"lambdapack.toml": CONFIG, "api/app.py": HANDLER}
    )
    result = cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
    return root


@pytest.mark.parametrize(("case", "mutate", "args", "code", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input(
    built: Path,
    tmp_path: Path,
    case: str,
    mutate: Callable[[Path], None],
    args: tuple[str, ...],
    code: int,
    message: str,
) -> None:
    root = shutil.copytree(built, tmp_path / "project", symlinks=True)
    before = _outputs(root)
    mutate(root)
    env: dict[str, str | None] = {}
    stdin = None
    plain: list[str] = []
    for arg in args:
        if arg.startswith("@stdin="):
            stdin = arg.removeprefix("@stdin=")
        elif arg.startswith("@"):
            name, _, value = arg[1:].partition("=")
            env[name] = value
        else:
            plain.append(arg)
    result = cli(*plain, cwd=root, env=env, stdin=stdin)
    errors = [line for line in result.stderr.splitlines() if line.startswith("lambdapack: error: ")]
    assert result.returncode == code, result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert len(errors) == 1 or (code == 3 and "inspect" not in args), result.stderr  # one line
    assert message in errors[0], (message, errors[0])
    after = _outputs(root)
    if case.startswith("manifest "):  # the case broke the manifest itself: the zip must stay
        before.pop("lambdapack-manifest.json")
        after.pop("lambdapack-manifest.json")
    assert after == before, case  # the earlier zip and manifest, byte for byte


def test_the_table_has_every_exit_code_and_forty_cases() -> None:
    assert len(CASES) >= 40
    assert {c[3] for c in CASES} == {1, 2, 3, 4}


def _mount(where: Path, options: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True
        ).returncode
        == 0
    )


@pytest.fixture
def small_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    where = tmp_path / "disk"
    if not _mount(where, "size=3m"):
        pytest.skip("needs root and tmpfs mounts (CI runs as root)")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def test_disk_full_for_the_output(small_disk: Path, tmp_path: Path) -> None:
    root = write_tree(tmp_path / "project", {"lambdapack.toml": CONFIG, "api/app.py": HANDLER})
    out = small_disk / "dist"
    assert cli("build", "-o", str(out), cwd=root).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if not p.name.startswith(".")}
    (root / "api" / "blob.bin").write_bytes(os.urandom(4 * 1024 * 1024))  # does not compress: > 3 MB zip
    result = cli("build", "-o", str(out), cwd=root)
    errors = [line for line in result.stderr.splitlines() if line.startswith("lambdapack: error: ")]
    assert result.returncode == 1 and len(errors) == 1, result.stderr
    assert (
        str(small_disk) in errors[0]
        and "No space left on device" in errors[0]
        and "disk is full" in errors[0]
    )
    after = {p.name: p.read_bytes() for p in out.iterdir() if not p.name.startswith(".")}
    assert after == before  # the earlier zip and manifest
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_disk_full_for_the_cache(small_disk: Path, tmp_path: Path) -> None:
    root = write_tree(
        tmp_path / "project",
        {
            "lambdapack.toml": CONFIG,
            "api/app.py": HANDLER,
            "api/requirements.txt": offline_requirements("lpfix-base"),
        },
    )
    (small_disk / "filler").write_bytes(b"\0" * (3 * 1024 * 1024 - 8192))
    result = cli("build", cwd=root, env={"LAMBDAPACK_CACHE_DIR": str(small_disk / "cache")})
    errors = [line for line in result.stderr.splitlines() if line.startswith("lambdapack: error: ")]
    assert result.returncode == 1 and len(errors) == 1, result.stderr
    assert "internal error" not in result.stderr
    assert "space" in errors[0].lower() or str(small_disk) in errors[0], errors[0]


def test_read_only_output(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "project", {"lambdapack.toml": CONFIG, "api/app.py": HANDLER})
    out = tmp_path / "ro"
    if not _mount(out, "size=1m"):
        pytest.skip("needs root and tmpfs mounts (CI runs as root)")
    try:
        assert cli("build", "-o", str(out), cwd=root).returncode == 0
        before = (out / "api.zip").read_bytes()
        subprocess.run(["mount", "-o", "remount,ro", str(out)], check=True)
        (root / "api" / "app.py").write_text(HANDLER + "# edit\n")
        result = cli("build", "-o", str(out), cwd=root)
        errors = [line for line in result.stderr.splitlines() if line.startswith("lambdapack: error: ")]
        assert result.returncode == 1 and len(errors) == 1, result.stderr
        assert str(out) in errors[0] and "Read-only file system" in errors[0], errors[0]
        assert (out / "api.zip").read_bytes() == before
        assert json.loads((out / "lambdapack-manifest.json").read_text())["artifacts"]["api"]
    finally:
        subprocess.run(["umount", "-l", str(out)], check=False)
