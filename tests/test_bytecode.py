"""Target bytecode (lambdapack.python.bytecode): the interpreter of exactly the
target's version, and .pyc files whose bytes depend on the sources alone.

Every test runs the real CPython 3.10 to 3.13 of this machine (pyenv, uv);
a missing one fails the test instead of skipping it.
"""

from __future__ import annotations

import json
import marshal
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import write_tree
from lambdapack.archive import ArchiveEntry
from lambdapack.contents import StagedPackage
from lambdapack.errors import EXIT_BUILD
from lambdapack.python import checks
from lambdapack.python.bytecode import (
    MAGIC_NUMBERS,
    BytecodeError,
    Interpreter,
    _canonical_marshal,
    compile_sources,
    compile_tree,
    find_interpreter,
)
from lambdapack.runtimes import target

VERSIONS = ("3.10", "3.11", "3.12", "3.13")
#: Real modules with many shared names, frozenset constants and nested code
#: (from the standard library of the Python running the tests).
STDLIB = Path(sysconfig.get_paths()["stdlib"])
MODULES = {
    # interns the strings ftplib's frozensets hold: compiled before ftplib, 3.12 shares them differently
    "codes.py": 'CODES = ("225", "226", "426")\n',
    "ftplib.py": (STDLIB / "ftplib.py").read_bytes(),
    "argparse.py": (STDLIB / "argparse.py").read_bytes(),
}
MOD = '''\
"""A module with nested code, a frozenset and a class."""

WHERE = "bytecode"


def outer(value):
    def inner():
        return value in {"alpha", "beta", "gamma", "delta"}

    return inner()


class Thing:
    def fail(self):
        raise RuntimeError("from mod")
'''


@pytest.fixture(scope="session")
def interpreters() -> dict[str, Interpreter]:
    """Each version's interpreter, found the way a build finds it."""
    return {minor: find_interpreter(minor, environ=os.environ) for minor in VERSIONS}


def run(interpreter: Interpreter | Path, *args: str, cwd: Path | None = None) -> str:
    """Run an interpreter (its stdout); nothing from this process's Python settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    path = interpreter.path if isinstance(interpreter, Interpreter) else interpreter
    result = subprocess.run([str(path), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def pycs(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.pyc"))}


# -- finding the interpreter -----------------------------------------------------------------------


@pytest.mark.parametrize("minor", VERSIONS)
def test_finds_exactly_the_version(minor: str, interpreters: dict[str, Interpreter]) -> None:
    found = interpreters[minor]
    assert found.minor == minor and found.version.startswith(minor + ".")
    assert found.tag == "cpython-" + minor.replace(".", "")
    facts = run(found, "-I", "-c", "import sys; print(sys.implementation.name, *sys.version_info[:3])")
    assert facts.split() == ["cpython", *found.version.split(".")]


def test_a_missing_version_names_it_and_how_to_get_one() -> None:
    with pytest.raises(BytecodeError) as raised:
        find_interpreter("3.14", environ=os.environ)  # not installed on these machines (docs/FACTS.md)
    assert str(raised.value) == (
        "bytecode = true needs a Python 3.14 interpreter to compile for python3.14; none found "
        "(uv python find 3.14, python3.14 on PATH, pyenv, bytecode_interpreter); install one with "
        "`uv python install 3.14` or set bytecode_interpreter"
    )
    assert raised.value.exit_code == EXIT_BUILD
    assert "uv python find 3.14" in raised.value.details


def nowhere(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment where neither uv, PATH nor pyenv has an interpreter."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    keep = {k: v for k, v in os.environ.items() if k.startswith("UV_") or k.endswith("_PROXY")}
    return {**keep, "HOME": str(home), "PATH": "", "UV_PYTHON_INSTALL_DIR": str(home / "uv"), **extra}


def test_never_another_version(tmp_path: Path, interpreters: dict[str, Interpreter]) -> None:
    environ = nowhere(tmp_path)
    configured = interpreters["3.13"].path
    with pytest.raises(BytecodeError) as raised:
        find_interpreter("3.12", configured=configured, environ=environ)
    assert f"; bytecode_interpreter {configured} is Python 3.13." in str(raised.value)
    assert str(raised.value).endswith(
        ", not 3.12; install one with `uv python install 3.12` or set bytecode_interpreter"
    )
    # the configured interpreter, when it is the version
    found = find_interpreter("3.12", configured=interpreters["3.12"].path, environ=environ)
    assert found == interpreters["3.12"]


def test_a_broken_candidate_on_path_is_passed_over(
    tmp_path: Path, interpreters: dict[str, Interpreter]
) -> None:
    broken = write_tree(
        tmp_path / "shims",
        {"python3.12": "#!/bin/sh\necho 'pyenv: python3.12: command not found' >&2\nexit 127\n"},
    )
    (broken / "python3.12").chmod(0o755)
    good = tmp_path / "bin"
    good.mkdir()
    (good / "python3.12").symlink_to(interpreters["3.12"].path)
    # uv looks at its managed interpreters only: the PATH step is the one that finds it
    environ = nowhere(tmp_path, PATH=f"{broken}{os.pathsep}{good}", UV_PYTHON_PREFERENCE="only-managed")
    found = find_interpreter("3.12", environ=environ)
    assert found.version == interpreters["3.12"].version
    assert found.path.resolve() == interpreters["3.12"].path.resolve()


# -- compile_tree ----------------------------------------------------------------------------------


@pytest.mark.parametrize("minor", VERSIONS)
def test_unchecked_hash_pycs_named_for_lambda(
    minor: str, interpreters: dict[str, Interpreter], tmp_path: Path
) -> None:
    interpreter = interpreters[minor]
    root = write_tree(
        tmp_path / "site",
        {
            "pkg/__init__.py": "",
            "pkg/mod.py": MOD,
            "pkg/__pycache__/mod.cpython-39.pyc": b"stale",  # left alone
            "old.pyc": b"stale",
            "py2.py": 'print "Python 2"\n',
            "nul.py": b"x = 1\x00\n",
        },
    )
    report = compile_tree(root, interpreter=interpreter, base="/var/task/", environ=os.environ)
    assert (report.compiled, report.skipped, report.sourceless) == (2, ("nul.py", "py2.py"), 0)
    made = pycs(root)
    tag = interpreter.tag
    assert set(made) == {
        f"pkg/__pycache__/__init__.{tag}.pyc",
        f"pkg/__pycache__/mod.{tag}.pyc",
        "pkg/__pycache__/mod.cpython-39.pyc",
        "old.pyc",
    }
    assert made["old.pyc"] == made["pkg/__pycache__/mod.cpython-39.pyc"] == b"stale"
    pyc = root / "pkg" / "__pycache__" / f"mod.{tag}.pyc"
    # what the target interpreter says about the header and the code objects
    facts = json.loads(
        run(
            interpreter,
            "-I",
            "-c",
            "import importlib.util, json, marshal, sys\n"
            "data = open(sys.argv[1], 'rb').read()\n"
            "source = open(sys.argv[2], 'rb').read()\n"
            "names = set()\n"
            "def walk(code):\n"
            "    names.add(code.co_filename)\n"
            "    for const in code.co_consts:\n"
            "        if hasattr(const, 'co_filename'): walk(const)\n"
            "walk(marshal.loads(data[16:]))\n"
            "print(json.dumps({'magic': importlib.util.MAGIC_NUMBER.hex(),\n"
            "    'hash': importlib.util.source_hash(source).hex(), 'files': sorted(names)}))\n",
            str(pyc),
            str(root / "pkg" / "mod.py"),
        )
    )
    data = pyc.read_bytes()
    assert data[:4].hex() == facts["magic"]
    assert int.from_bytes(data[:2], "little") == MAGIC_NUMBERS[(3, int(minor[2:]))]
    assert int.from_bytes(data[4:8], "little") == 0b01  # hash-based, the source never checked
    assert data[8:16].hex() == facts["hash"]
    assert facts["files"] == ["/var/task/pkg/mod.py"]  # the module and its nested functions


@pytest.mark.parametrize("minor", VERSIONS)
def test_same_bytes_whatever_the_directory_seed_or_batch(
    minor: str, interpreters: dict[str, Interpreter], tmp_path: Path
) -> None:
    interpreter = interpreters[minor]
    files = {**MODULES, "pkg/__init__.py": "", "pkg/mod.py": MOD}
    one = write_tree(tmp_path / "one" / "site", files)
    two = write_tree(tmp_path / "two" / "deeper" / "site", files)
    compile_tree(
        one, interpreter=interpreter, base="/opt/python/", environ={**os.environ, "PYTHONHASHSEED": "1"}
    )
    compile_tree(
        two, interpreter=interpreter, base="/opt/python/", environ={**os.environ, "PYTHONHASHSEED": "2"}
    )
    batch = pycs(one)
    assert len(batch) == 5 and pycs(two) == batch
    for name in sorted(files):  # each file compiled alone, in a process of its own
        alone = write_tree(tmp_path / "alone" / name.replace("/", "-"), {name: files[name]})
        compile_tree(alone, interpreter=interpreter, base="/opt/python/", environ=os.environ)
        [(pyc, data)] = pycs(alone).items()
        assert batch[pyc] == data, pyc


#: Compiles the files named on the command line after some imports ("busy"), or
#: not ("alone"); prints each file's marshal.dumps (what py_compile writes).
PLAIN = """\
import json, marshal, sys
if sys.argv[1] == "busy":
    import argparse, email.message, functools, typing
dumps = {}
for path in sys.argv[2:]:
    with open(path, "rb") as f:
        dumps[path] = marshal.dumps(compile(f.read(), "/var/task/" + path, "exec", dont_inherit=True)).hex()
print(json.dumps(dumps))
"""


@pytest.mark.parametrize("minor", VERSIONS)
def test_plain_marshal_depends_on_the_process_the_canonical_form_does_not(
    minor: str, interpreters: dict[str, Interpreter], tmp_path: Path
) -> None:
    """Why compile_tree does not write marshal.dumps as it is: the same source
    compiled after other files and imports gives other bytes (3.10, 3.12, 3.13);
    the canonical form is the same, and loads to the same code."""
    interpreter = interpreters[minor]
    write_tree(tmp_path, MODULES)
    names = sorted(MODULES, key=lambda n: n != "codes.py")  # codes.py first
    busy = json.loads(run(interpreter, "-S", "-c", PLAIN, "busy", *names, cwd=tmp_path))
    alone = {}
    for name in names:
        alone |= json.loads(run(interpreter, "-S", "-c", PLAIN, "alone", name, cwd=tmp_path))
    version = int(minor[2:])
    differ = [name for name in names if busy[name] != alone[name]]
    assert differ or version == 11  # 3.11 happens to give the same bytes here
    for name in names:
        canonical = _canonical_marshal(bytes.fromhex(busy[name]), version)
        assert canonical == _canonical_marshal(bytes.fromhex(alone[name]), version), name


def test_canonical_form_is_stable_and_loads_to_the_same_code() -> None:
    """In this process: the canonical form of a module, loaded and dumped again, is itself."""
    version = sys.version_info[1]
    for name in ("ftplib.py", "argparse.py", "functools.py", "inspect.py"):
        code = compile((STDLIB / name).read_bytes(), "/var/task/" + name, "exec", dont_inherit=True)
        canonical = _canonical_marshal(marshal.dumps(code), version)
        assert marshal.loads(canonical) == code
        assert _canonical_marshal(marshal.dumps(marshal.loads(canonical)), version) == canonical


def test_frozensets_do_not_depend_on_the_hash_seed(
    interpreters: dict[str, Interpreter], tmp_path: Path
) -> None:
    """3.10 writes a frozenset in hash order: another seed, other bytes."""
    source = "def f(x):\n    return x in {" + ", ".join(f'"name{i}"' for i in range(40)) + "}\n"
    write_tree(tmp_path, {"sets.py": source})
    interpreter = interpreters["3.10"]
    dumps = []
    for seed in ("1", "2"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | {"PYTHONHASHSEED": seed}
        result = subprocess.run(
            [str(interpreter.path), "-S", "-c", PLAIN, "alone", "sets.py"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        dumps.append(bytes.fromhex(json.loads(result.stdout)["sets.py"]))
    assert dumps[0] != dumps[1]
    assert _canonical_marshal(dumps[0], 10) == _canonical_marshal(dumps[1], 10)


def read_only(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def writable(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


@pytest.fixture
def cleanup(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    writable(tmp_path)


@pytest.mark.parametrize("minor", ["3.10", "3.13"])
def test_a_read_only_tree_imports_the_bytecode(
    minor: str, interpreters: dict[str, Interpreter], cleanup: Path
) -> None:
    """Lambda's /var/task is read-only: the unchecked-hash .pyc is used as it is.
    The source is changed after compiling: its new text never runs."""
    interpreter = interpreters[minor]
    root = write_tree(cleanup / "task", {"pkg/__init__.py": "", "pkg/mod.py": MOD})
    compile_tree(root, interpreter=interpreter, base="/var/task/", environ=os.environ)
    (root / "pkg" / "mod.py").write_text(MOD.replace('"bytecode"', '"source"'), encoding="utf-8")
    read_only(root)
    before = sorted(p.as_posix() for p in root.rglob("*"))
    program = "import sys, pkg.mod; print(pkg.mod.WHERE, pkg.mod.outer('beta'), sys.dont_write_bytecode)"
    out = run(interpreter, "-B", "-c", program, cwd=root)
    assert out.split() == ["bytecode", "True", "True"]
    assert sorted(p.as_posix() for p in root.rglob("*")) == before


@pytest.mark.parametrize("minor", VERSIONS)
def test_only_ships_sourceless_bytecode_that_imports(
    minor: str, interpreters: dict[str, Interpreter], tmp_path: Path
) -> None:
    interpreter = interpreters[minor]
    root = write_tree(
        tmp_path / "site",
        {
            "pkg/__init__.py": "from pkg.mod import outer\n",
            "pkg/mod.py": MOD,
            "pkg/build-helper.py": "print('a script, not a module')\n",  # no module name: keeps its source
            "pkg/py2.py": 'print "Python 2"\n',  # does not compile: kept
        },
    )
    report = compile_tree(root, interpreter=interpreter, base="/opt/python/", only=True, environ=os.environ)
    assert (report.compiled, report.skipped, report.sourceless) == (3, ("pkg/py2.py",), 2)
    left = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert left == [
        "pkg/__init__.pyc",
        f"pkg/__pycache__/build-helper.{interpreter.tag}.pyc",
        "pkg/build-helper.py",
        "pkg/mod.pyc",
        "pkg/py2.py",
    ]
    # without a source, a traceback names the code's file name: the path on Lambda
    program = (
        "import traceback, pkg\n"
        "try:\n    pkg.mod.Thing().fail()\n"
        "except RuntimeError as exc:\n    where = traceback.extract_tb(exc.__traceback__)[-1].filename\n"
        "print(pkg.outer('alpha'), pkg.mod.__file__, where)\n"
    )
    out = run(interpreter, "-B", "-c", program, cwd=root)
    assert out.split() == ["True", str(root / "pkg" / "mod.pyc"), "/opt/python/pkg/mod.py"]


# -- compile_sources -------------------------------------------------------------------------------


def own_entries(root: Path) -> list[ArchiveEntry]:
    return [
        ArchiveEntry(name=p.relative_to(root).as_posix(), path=p, executable=False)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    ]


def test_compile_sources_compiles_what_changed_only(
    interpreters: dict[str, Interpreter], tmp_path: Path
) -> None:
    interpreter = interpreters["3.12"]
    root = write_tree(
        tmp_path / "src",
        {
            "app.py": "def handler(event, context):\n    return 1\n",
            "lib/util.py": MOD,
            "broken.py": "def (:\n",
        },
    )
    (root / "README.md").write_text("not Python\n", encoding="utf-8")
    store = tmp_path / "cache" / "pyc"
    entries, skipped = compile_sources(
        own_entries(root), interpreter=interpreter, base="/var/task/", store=store, environ=os.environ
    )
    assert [e.name for e in entries] == [
        "__pycache__/app.cpython-312.pyc",
        "lib/__pycache__/util.cpython-312.pyc",
    ]
    assert skipped == ("broken.py",)
    # the same bytes as compile_tree gives for the same file and place
    tree = write_tree(tmp_path / "tree", {"lib/util.py": MOD})
    compile_tree(tree, interpreter=interpreter, base="/var/task/", environ=os.environ)
    assert Path(entries[1].path).read_bytes() == (tree / "lib/__pycache__/util.cpython-312.pyc").read_bytes()

    # everything stored: no interpreter is started (this one cannot be)
    nothing = Interpreter(path=tmp_path / "no-python", version=interpreter.version)
    again = compile_sources(
        own_entries(root), interpreter=nothing, base="/var/task/", store=store, environ=os.environ
    )
    assert again == (entries, skipped)

    # an edited file is compiled again, by itself
    (root / "lib" / "util.py").write_text(MOD + "EXTRA = 1\n", encoding="utf-8")
    with pytest.raises(BytecodeError, match=r"cannot run Python 3\.12"):
        compile_sources(
            own_entries(root), interpreter=nothing, base="/var/task/", store=store, environ=os.environ
        )
    edited, _ = compile_sources(
        own_entries(root), interpreter=interpreter, base="/var/task/", store=store, environ=os.environ
    )
    assert edited[0] == entries[0] and edited[1].path != entries[1].path
    # another place on Lambda (a layer) is another code file name: compiled again
    with pytest.raises(BytecodeError):
        compile_sources(
            own_entries(root), interpreter=nothing, base="/opt/python/", store=store, environ=os.environ
        )


# -- the check for bytecode of another Python ------------------------------------------------------


def test_sourceless_pyc_of_another_python_is_reported(tmp_path: Path) -> None:
    def header(minor: int) -> bytes:
        return MAGIC_NUMBERS[(3, minor)].to_bytes(2, "little") + b"\r\n" + bytes(12)

    root = write_tree(
        tmp_path / "pkg",
        {
            "app.py": "",
            "__pycache__/app.cpython-312.pyc": header(12),  # the target's tag: fine
            "lib/fast.pyc": header(12),  # sourceless, the target's magic number: fine
            "lib/old.pyc": header(11),  # sourceless, Python 3.11's
            "lib/beta.pyc": (3530).to_bytes(2, "little") + b"\r\n" + bytes(12),  # a 3.12 beta's
            "dep/__init__.pyc": header(13),  # a dependency's
            "dep-1.0.dist-info/RECORD": "dep/__init__.pyc,,\ndep-1.0.dist-info/RECORD,,\n",
        },
    )
    package = StagedPackage(own_entries(root), label="fn")
    found = list(checks.findings(package, target("python3.12", "x86_64"), package.files))
    assert [(f.check, f.path, f.distribution, f.details) for f in found] == [
        ("hygiene", "dep/", "dep 1.0", ("dep/__init__.pyc",)),
        ("hygiene", "lib/", None, ("lib/beta.pyc", "lib/old.pyc")),
    ]
    assert [f.fix for f in found] == [
        'remove them from the dependencies with slim = ["pycache"]',
        'add "__pycache__/" and "*.pyc" to exclude (lambdapack excludes them by default)',
    ]


def test_magic_numbers_are_the_interpreters(interpreters: dict[str, Interpreter]) -> None:
    for minor, interpreter in interpreters.items():
        magic = run(
            interpreter, "-I", "-c", "import importlib.util; print(importlib.util.MAGIC_NUMBER.hex())"
        )
        assert (
            bytes.fromhex(magic.strip()) == MAGIC_NUMBERS[(3, int(minor[2:]))].to_bytes(2, "little") + b"\r\n"
        )


def test_interpreter_properties() -> None:
    interpreter = Interpreter(path=Path(shutil.which("true") or "/bin/true"), version="3.11.9")
    assert (interpreter.minor, interpreter.tag) == ("3.11", "cpython-311")
