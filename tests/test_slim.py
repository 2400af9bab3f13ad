"""Slimming (lambdapack.slim): every option's rules on small hand-made Python
and Node.js trees, the same answers from a built zip (``would_save``), the
strip engine with stand-in tools (a copy renamed over the file, hard links
and modes kept, output that would not load refused, failures reported) and
with the real tool; on real numpy + pandas wheels for x86_64 and aarch64
(network), what slimming saves and that both still import on their machine."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest

from conftest import EM_AARCH64, EM_X86_64, cli, write_tree
from lambdapack.contents import ZipPackage
from lambdapack.errors import ToolError
from lambdapack.runtimes import target
from lambdapack.slim import (
    OPTIONS,
    Saving,
    SlimReport,
    rules_for,
    slim_tree,
    strip_tool,
    validate,
    would_save,
)
from lambdapack.verify import hygiene

PY311 = target("python3.11", "x86_64")
NODE = target("nodejs22.x", "x86_64")
NO_TOOL: dict[str, str] = {"PATH": ""}


def pyc(minor: int) -> bytes:
    """A .pyc header of CPython 3.<minor> (a magic number of that version)."""
    magic = {11: 3495, 12: 3531}[minor]
    return struct.pack("<H", magic) + b"\r\n" + bytes(12)


def record(root: Path, dist_info: str) -> None:
    """Write ``dist_info``'s RECORD listing every file of the tree (as an installer would)."""
    rows = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.relative_to(root).as_posix()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
        rows.append(f"{name},sha256={digest},{path.stat().st_size}")
    rows.append(f"{dist_info}/RECORD,,")
    (root / dist_info / "RECORD").write_text("\n".join(rows) + "\n")


def files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def savings(report: SlimReport) -> dict[str, tuple[int, int]]:
    return {s.option: (s.files, s.bytes) for s in report.savings}


def zip_of(root: Path, dest: Path, extra: Mapping[str, str] = {}) -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for name in sorted(files(root)):
            zf.write(root / name, name)
        for name, text in extra.items():
            zf.writestr(name, text)
    return dest


# -- options ---------------------------------------------------------------------------------------


def test_validate_and_rules_per_language() -> None:
    assert validate(["tests", "strip", "tests"]) is None
    assert validate([]) is None
    message = validate(["tests", "foo", "Docs"])
    assert message is not None and message.startswith('\'foo\' is not one of "tests", "stubs"')
    assert "'Docs' is not one of" in message
    assert rules_for("python").options == ("tests", "stubs", "metadata", "pycache", "strip")
    assert rules_for("node").options == ("tests", "stubs", "docs", "maps", "strip")
    assert set(OPTIONS) == {*rules_for("python").options, *rules_for("node").options}
    with pytest.raises(KeyError):
        rules_for("ruby")
    report = SlimReport(
        savings=(Saving(option="tests", files=2, bytes=10), Saving(option="stubs", files=1, bytes=5))
    )
    assert (report.files, report.bytes) == (3, 15)
    assert report.to_json()["bytes"] == 15


# -- Python ----------------------------------------------------------------------------------------

PYTHON_TREE: dict[str, str | bytes] = {
    "numpy/__init__.py": "X = 1\n",
    "numpy/__init__.pyi": "X: int\n",
    "numpy/py.typed": "",
    "numpy/testing/__init__.py": "# runtime code, not a test directory\n",
    "numpy/tests/test_a.py": "def test(): pass\n",
    "numpy/tests/data/table.csv": "a,b\n",
    "numpy/_core/multiarray.py": "Y = 2\n",
    "numpy/_core/tests/test_b.py": "def test(): pass\n",
    "numpy/_core/tests/LICENSE.txt": "a licence stays wherever it is\n",
    "numpy/__pycache__/__init__.cpython-311.pyc": pyc(11),
    "numpy/__pycache__/__init__.cpython-311.opt-1.pyc": pyc(11),
    "numpy/__pycache__/__init__.cpython-312.pyc": pyc(12),
    "numpy/sourceless.pyc": pyc(11),  # stray, but compiled for the target: importable
    "numpy/stale.pyc": pyc(12),
    "numpy-2.1.0.dist-info/METADATA": "Name: numpy\nVersion: 2.1.0\n",
    "numpy-2.1.0.dist-info/WHEEL": "Tag: cp311-cp311-manylinux_2_17_x86_64\n",
    "numpy-2.1.0.dist-info/INSTALLER": "uv\n",
    "numpy-2.1.0.dist-info/REQUESTED": "",
    "numpy-2.1.0.dist-info/direct_url.json": "{}\n",
    "numpy-2.1.0.dist-info/entry_points.txt": "[console_scripts]\nf2py = numpy.f2py:main\n",
    "numpy-2.1.0.dist-info/top_level.txt": "numpy\n",
    "numpy-2.1.0.dist-info/LICENSE.txt": "BSD\n",
    "numpy-2.1.0.dist-info/licenses/vendored/COPYING": "GPL exception\n",
    "numpy-2.1.0.dist-info/sboms/auditwheel.cdx.json": "{}\n",
    # a distribution named "test" (and a badly packaged top-level "tests"): roots stay
    "test/__init__.py": "T = 1\n",
    "tests/__init__.py": "",
    "six.py": "S = 1\n",
    "six.pyi": "S: int\n",
}

PYTHON_GONE = {
    "tests": {
        "numpy/tests/test_a.py",
        "numpy/tests/data/table.csv",
        "numpy/_core/tests/test_b.py",
    },
    "stubs": {"numpy/__init__.pyi", "six.pyi"},
    "metadata": {  # WHEEL stays: lambdapack's wheel-tag check reads it
        "numpy-2.1.0.dist-info/INSTALLER",
        "numpy-2.1.0.dist-info/REQUESTED",
        "numpy-2.1.0.dist-info/direct_url.json",
        "numpy-2.1.0.dist-info/sboms/auditwheel.cdx.json",
    },
    "pycache": {"numpy/__pycache__/__init__.cpython-312.pyc", "numpy/stale.pyc"},
}


def python_tree(root: Path) -> Path:
    write_tree(root, PYTHON_TREE)
    record(root, "numpy-2.1.0.dist-info")
    return root


def test_python_rules(tmp_path: Path) -> None:
    root = python_tree(tmp_path / "site")
    before = {name: (root / name).stat().st_size for name in files(root)}
    options = ["pycache", "metadata", "stubs", "tests", "docs", "maps"]  # any order; docs/maps: not Python's
    report = slim_tree(root, options, language="python", target=PY311, environ=NO_TOOL)
    assert [s.option for s in report.savings] == ["tests", "stubs", "metadata", "pycache"]
    for option, gone in PYTHON_GONE.items():
        assert savings(report)[option] == (len(gone), sum(before[n] for n in gone)), option
    removed = set().union(*PYTHON_GONE.values())
    assert files(root) == set(before) - removed
    assert report.files == len(removed)
    # directories left empty are gone; a package's root never is
    assert not (root / "numpy" / "tests").exists()
    assert [p.name for p in (root / "numpy" / "_core" / "tests").iterdir()] == ["LICENSE.txt"]
    assert not (root / "numpy-2.1.0.dist-info" / "sboms").exists()
    assert (root / "numpy" / "_core" / "tests" / "LICENSE.txt").is_file()
    assert (root / "test" / "__init__.py").is_file() and (root / "tests" / "__init__.py").is_file()
    # RECORD keeps the rows of what is left, and only those
    rows = (root / "numpy-2.1.0.dist-info" / "RECORD").read_text().splitlines()
    listed = {row.split(",", 1)[0] for row in rows}
    assert listed == files(root)
    assert "numpy/__init__.py,sha256=" in "\n".join(rows)
    # slimming again finds nothing more
    again = slim_tree(root, options, language="python", target=PY311, environ=NO_TOOL)
    assert again.files == 0 and [s.option for s in again.savings] == ["tests", "stubs", "metadata", "pycache"]


def test_python_bytecode_of_the_target_stays(tmp_path: Path) -> None:
    root = python_tree(tmp_path / "site")
    py312 = target("python3.12", "x86_64")
    slim_tree(root, ["pycache"], language="python", target=py312, environ=NO_TOOL)
    left = {n for n in files(root) if n.endswith(".pyc")}
    assert left == {"numpy/__pycache__/__init__.cpython-312.pyc", "numpy/stale.pyc"}


def test_python_would_save_from_a_zip_counts_dependencies_only(tmp_path: Path) -> None:
    root = python_tree(tmp_path / "site")
    own = {"app.py": "def handler(e, c): return 1\n", "app_tests/tests/test_app.py": "", "own.pyi": ""}
    zip_path = zip_of(root, tmp_path / "fn.zip", own)
    options = ["tests", "stubs", "metadata", "pycache", "strip"]
    with ZipPackage(zip_path) as package:
        estimate = would_save(package, options, language="python", target=PY311, environ=NO_TOOL)
        without_target = would_save(package, options, language="python", target=None)
    done = slim_tree(root, options[:-1], language="python", target=PY311, environ=NO_TOOL)
    assert estimate == done  # no strip tool: "strip" is left out of the estimate
    assert [s.option for s in without_target.savings] == ["tests", "stubs", "metadata"]


# -- Node.js -----------------------------------------------------------------------------------------

NODE_TREE: dict[str, str | bytes] = {
    "package.json": "{}\n",
    "index.js": "exports.handler = async () => 1;\n",
    "index.d.ts": "// the function's own code: never slimmed\n",
    "test/handler.test.js": "",
    "README.md": "",
    "node_modules/.package-lock.json": "{}\n",
    "node_modules/sharp/package.json": "{}\n",
    "node_modules/sharp/lib/index.js": "module.exports = 1;\n",
    "node_modules/sharp/lib/index.d.ts": "export {};\n",
    "node_modules/sharp/lib/index.js.map": "{}\n",
    "node_modules/sharp/lib/history.js": "// code, whatever its name\n",
    "node_modules/sharp/README.md": "# sharp\n",
    "node_modules/sharp/Readme.markdown": "x\n",
    "node_modules/sharp/HISTORY": "1.0\n",
    "node_modules/sharp/changelog.txt": "1.0\n",
    "node_modules/sharp/LICENSE": "Apache-2.0\n",
    "node_modules/sharp/LICENSE.md": "Apache-2.0\n",
    "node_modules/sharp/docs/api.md": "# api\n",
    "node_modules/sharp/docs/api.html": "<p>api</p>\n",
    "node_modules/sharp/examples/resize.js": "require('sharp');\n",
    "node_modules/sharp/test/unit/a.js": "",
    "node_modules/@img/sharp-linux-x64/package.json": "{}\n",
    "node_modules/@img/sharp-linux-x64/lib/types.d.mts": "export {};\n",
    "node_modules/@img/sharp-linux-x64/lib/types.d.cts": "export {};\n",
    "node_modules/@img/sharp-linux-x64/lib/__tests__/b.js": "",
    # packages named like what goes stay; so does code in a deeper doc/
    "node_modules/test/index.js": "module.exports = 1;\n",
    "node_modules/docs/index.js": "module.exports = 1;\n",
    "node_modules/@scope/tests/index.js": "module.exports = 1;\n",
    "node_modules/yaml/dist/doc/Document.js": "module.exports = 1;\n",
    "node_modules/yaml/docs/README.md": "# yaml\n",
    # nested node_modules
    "node_modules/a/node_modules/b/index.js": "",
    "node_modules/a/node_modules/b/tests/c.js": "",
    "node_modules/a/node_modules/b/index.d.cts": "",
    "node_modules/a/node_modules/test/index.js": "",
}

NODE_GONE = {
    "tests": {
        "node_modules/sharp/test/unit/a.js",
        "node_modules/@img/sharp-linux-x64/lib/__tests__/b.js",
        "node_modules/a/node_modules/b/tests/c.js",
    },
    "stubs": {
        "node_modules/sharp/lib/index.d.ts",
        "node_modules/@img/sharp-linux-x64/lib/types.d.mts",
        "node_modules/@img/sharp-linux-x64/lib/types.d.cts",
        "node_modules/a/node_modules/b/index.d.cts",
    },
    "docs": {
        "node_modules/sharp/README.md",
        "node_modules/sharp/Readme.markdown",
        "node_modules/sharp/HISTORY",
        "node_modules/sharp/changelog.txt",
        "node_modules/sharp/docs/api.md",
        "node_modules/sharp/docs/api.html",
        "node_modules/sharp/examples/resize.js",
        "node_modules/yaml/docs/README.md",
    },
    "maps": {"node_modules/sharp/lib/index.js.map"},
}


def test_node_rules(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "fn", NODE_TREE)
    before = {name: (root / name).stat().st_size for name in files(root)}
    options = ["tests", "stubs", "metadata", "pycache", "docs", "maps"]
    report = slim_tree(root, options, language="node", target=NODE, environ=NO_TOOL)
    assert [s.option for s in report.savings] == ["tests", "stubs", "docs", "maps"]
    for option, gone in NODE_GONE.items():
        assert savings(report)[option] == (len(gone), sum(before[n] for n in gone)), option
    assert files(root) == set(before) - set().union(*NODE_GONE.values())
    assert not (root / "node_modules" / "sharp" / "docs").exists()
    assert (root / "node_modules" / "yaml" / "dist" / "doc" / "Document.js").is_file()

    zip_path = zip_of(write_tree(tmp_path / "again", NODE_TREE), tmp_path / "fn.zip")
    with ZipPackage(zip_path) as package:
        assert would_save(package, options, language="node", target=None) == report


# -- strip, with stand-in tools ---------------------------------------------------------------------

#: Two loadable segments of a shared object, with 7.5 KiB between them that no
#: segment maps (what a symbol table looks like to the loader).
_GAP = 0x2000


def two_segment_elf(machine: int = EM_X86_64) -> bytes:
    header = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    header += struct.pack("<HHIQQQIHHHHHH", 3, machine, 1, 0, 64, 0, 0, 64, 56, 2, 64, 0, 0)
    first = struct.pack("<IIQQQQQQ", 1, 5, 0, 0, 0, 0x200, 0x200, 0x1000)
    second = struct.pack("<IIQQQQQQ", 1, 6, _GAP, 0x3000, 0x3000, 0x100, 0x180, 0x1000)
    image = header + first + second
    image += b"C" * (0x200 - len(image))
    image += b"S" * (_GAP - 0x200)  # the "symbol table"
    return image + b"D" * 0x100


FAKE_STRIP = textwrap.dedent(
    """\
    #!{python}
    import os, struct, sys
    mode = os.environ.get("FAKE_STRIP", "good")
    if sys.argv[1] == "--version":
        print("fake strip, version 1.2.3")
        sys.exit(0)
    assert sys.argv[1:3] == ["--strip-unneeded", "-o"], sys.argv
    out, src = sys.argv[3], sys.argv[4]
    data = open(src, "rb").read()
    if mode == "fail":
        sys.stderr.write("fake-strip: unsupported file\\nmore\\n")
        sys.exit(1)
    new_offset = 0x200 if mode == "misaligned" else 0x1000
    image = bytearray(data[:0x200] + bytes(new_offset - 0x200) + data[{gap}:])
    struct.pack_into("<Q", image, 64 + 56 + 8, new_offset)
    if mode == "corrupt":
        image[-1] ^= 0xFF
    open(out, "wb").write(image)
    """
)


def fake_tool(tmp_path: Path, name: str = "llvm-strip") -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / name
    tool.write_text(FAKE_STRIP.format(python=sys.executable, gap=_GAP))
    tool.chmod(0o755)
    return bin_dir


def strip_tree(root: Path) -> Path:
    elf = two_segment_elf()
    write_tree(
        root,
        {
            "lib/_ext.cpython-311-x86_64-linux-gnu.so": elf,
            "lib.libs/libfoo-12ab.so.1.2": elf,
            "lib/_arm.cpython-311-aarch64-linux-gnu.so": two_segment_elf(EM_AARCH64),
            "lib/data.bin": elf,  # ELF, but not named like a library: left alone
            "lib/fake.so": "not ELF\n",
            "lib/__init__.py": "",
            "lib-1.0.dist-info/METADATA": "Name: lib\n",
        },
    )
    (root / "lib/_ext.cpython-311-x86_64-linux-gnu.so").chmod(0o755)
    record(root, "lib-1.0.dist-info")
    return root


def test_strip_replaces_each_library_by_a_smaller_copy(tmp_path: Path) -> None:
    env = {"PATH": str(fake_tool(tmp_path))}
    root = strip_tree(tmp_path / "site")
    cache = tmp_path / "installer-cache.so"  # the tree's file is a hard link into a cache
    os.link(root / "lib.libs/libfoo-12ab.so.1.2", cache)
    original = two_segment_elf()
    report = slim_tree(root, ["strip"], language="python", target=PY311, environ=env)
    shrunk = len(original) - (0x1000 + 0x100)
    assert savings(report) == {"strip": (2, 2 * shrunk)}
    for name in ("lib/_ext.cpython-311-x86_64-linux-gnu.so", "lib.libs/libfoo-12ab.so.1.2"):
        data = (root / name).read_bytes()
        assert len(data) == 0x1100 and data[0x1000:] == original[_GAP:]
    assert cache.read_bytes() == original  # the cache's copy is untouched
    assert stat.S_IMODE((root / "lib/_ext.cpython-311-x86_64-linux-gnu.so").stat().st_mode) == 0o755
    for name in ("lib/_arm.cpython-311-aarch64-linux-gnu.so", "lib/data.bin"):
        assert len((root / name).read_bytes()) == len(original), name
    assert not [n for n in files(root) if ".strip" in n]  # no temporary copies left
    # RECORD has the stripped files' new hashes and sizes
    rows = {r.split(",")[0]: r for r in (root / "lib-1.0.dist-info/RECORD").read_text().splitlines()}
    digest = hashlib.sha256((root / "lib.libs/libfoo-12ab.so.1.2").read_bytes()).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert rows["lib.libs/libfoo-12ab.so.1.2"] == f"lib.libs/libfoo-12ab.so.1.2,sha256={expected},{0x1100}"
    assert rows["lib/__init__.py"].startswith("lib/__init__.py,sha256=")
    # stripping again changes nothing
    before = {n: (root / n).read_bytes() for n in files(root)}
    again = slim_tree(root, ["strip"], language="python", target=PY311, environ=env)
    assert savings(again) == {"strip": (0, 0)}
    assert {n: (root / n).read_bytes() for n in files(root)} == before


@pytest.mark.parametrize("mode", ["misaligned", "corrupt"])
def test_strip_output_the_loader_would_map_differently_is_refused(tmp_path: Path, mode: str) -> None:
    env = {"PATH": str(fake_tool(tmp_path)), "FAKE_STRIP": mode}
    root = strip_tree(tmp_path / "site")
    before = {n: (root / n).read_bytes() for n in files(root)}
    report = slim_tree(root, ["strip"], language="python", target=PY311, environ=env)
    assert savings(report) == {"strip": (0, 0)}
    assert {n: (root / n).read_bytes() for n in files(root)} == before


def test_strip_failure_and_missing_tool_are_tool_errors(tmp_path: Path) -> None:
    root = strip_tree(tmp_path / "site")
    before = {n: (root / n).read_bytes() for n in files(root)}
    env = {"PATH": str(fake_tool(tmp_path)), "FAKE_STRIP": "fail"}
    with pytest.raises(ToolError) as failed:
        slim_tree(root, ["tests", "strip"], language="python", target=PY311, environ=env)
    assert str(failed.value) == (
        'slim "strip": llvm-strip failed on lib.libs/libfoo-12ab.so.1.2: fake-strip: unsupported file'
    )
    assert "--strip-unneeded" in failed.value.details and "more" in failed.value.details
    assert {n: (root / n).read_bytes() for n in files(root)} == before

    empty = tmp_path / "empty"
    empty.mkdir()
    arm = target("python3.11", "arm64")
    with pytest.raises(ToolError) as missing:
        slim_tree(root, ["strip"], language="python", target=arm, environ={"PATH": str(empty)})
    message = str(missing.value)
    assert "\n" not in message and message.startswith('slim "strip": no strip tool for aarch64')
    assert "apt-get install llvm" in message and "binutils-aarch64-linux-gnu" in message
    assert {n: (root / n).read_bytes() for n in files(root)} == before  # nothing removed either


def test_strip_tool_choice(tmp_path: Path) -> None:
    bin_dir = fake_tool(tmp_path, "aarch64-linux-gnu-strip")
    arm = target("python3.12", "arm64")
    env = {"PATH": str(bin_dir)}
    assert strip_tool(arm, env) == (
        str(bin_dir / "aarch64-linux-gnu-strip"),
        "aarch64-linux-gnu-strip fake strip, version 1.2.3",
    )
    assert strip_tool(PY311, env) is None  # not for x86_64, and no host `strip` on this PATH
    fake_tool(tmp_path, "llvm-strip")
    fake_tool(tmp_path, "llvm-strip-14")
    fake_tool(tmp_path, "llvm-strip-19")
    path, version = strip_tool(arm, env) or ("", "")
    assert (Path(path).name, version) == ("llvm-strip-19", "llvm-strip-19 fake strip, version 1.2.3")
    broken = bin_dir / "llvm-strip-20"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    assert strip_tool(arm, env) == (str(bin_dir / "llvm-strip-19"), "llvm-strip-19 fake strip, version 1.2.3")


def test_would_save_estimates_strip_from_a_zip(tmp_path: Path) -> None:
    env = {"PATH": str(fake_tool(tmp_path))}
    root = strip_tree(tmp_path / "site")
    zip_path = zip_of(root, tmp_path / "fn.zip", {"app.py": ""})
    with ZipPackage(zip_path) as package:
        estimate = would_save(package, ["strip"], language="python", target=PY311, environ=env)
        assert would_save(package, ["strip"], language="python", target=None, environ=env).savings == ()
        assert would_save(package, ["strip"], language="python", target=PY311, environ=NO_TOOL).savings == ()
    assert estimate == slim_tree(root, ["strip"], language="python", target=PY311, environ=env)


# -- strip, with the real tool ------------------------------------------------------------------------


def test_real_strip_is_deterministic_and_the_module_still_imports(tmp_path: Path) -> None:
    """A compiled standard-library module stripped twice: the same bytes, and it imports."""
    machine = os.uname().machine
    host = target("python3.11", "arm64" if machine == "aarch64" else "x86_64")
    if strip_tool(host, os.environ) is None:
        pytest.skip("no strip tool (the network tier's test fails instead)")
    import _json

    if not getattr(_json, "__file__", None):
        pytest.skip("_json is built into this Python")
    module = Path(_json.__file__)
    trees = []
    for name in ("one", "two"):
        tree = tmp_path / name
        tree.mkdir()
        shutil.copy2(module, tree / module.name)
        slim_tree(tree, ["strip"], language="python", target=host, environ=os.environ)
        trees.append((tree / module.name).read_bytes())
    assert trees[0] == trees[1]
    assert len(trees[0]) <= module.stat().st_size
    code = f"import sys; sys.path.insert(0, {str(tmp_path / 'one')!r}); import _json; print(_json.__file__)"
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == str(tmp_path / "one" / module.name)


# -- the hygiene warning points at slim --------------------------------------------------------------


def test_hygiene_fix_lists_every_test_directory(tmp_path: Path) -> None:
    tree = {f"lib/m{i}/tests/test_x.py": "def test(): pass\n" for i in range(7)}
    root = write_tree(tmp_path / "site", {**tree, "lib/__init__.py": "", "lib-1.0.dist-info/METADATA": ""})
    record(root, "lib-1.0.dist-info")
    with ZipPackage(zip_of(root, tmp_path / "fn.zip")) as package:
        (finding,) = [
            f for f in hygiene.findings(package, PY311, package.files) if "test director" in f.message
        ]
    listed = ", ".join(f'"lib/m{i}/tests/"' for i in range(7))
    assert finding.fix == f'set slim = ["tests"], or add {listed} to the function\'s dependency_exclude'
    assert finding.details[-1] == "… and 2 more"


# -- real wheels: numpy + pandas on x86_64 and aarch64 ------------------------------------------------

#: What python3.11 loads on Lambda (manylinux_2_17; glibc 2.26), pinned so the sizes stay comparable.
REAL = ("numpy==2.2.6", "pandas==2.3.2")
CHECK = (
    "import sys; sys.path.insert(0, sys.argv[1]); import numpy, pandas; "
    "s = pandas.DataFrame({'a': [1, 2]}).sum(); "
    "inv = numpy.linalg.inv(numpy.array([[2.0, 0.0], [0.0, 4.0]])); "
    "print(int(s['a']), inv.tolist())"
)


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.mark.network  # wheels from PyPI; arm64 CPython from the Debian mirror (tests/qemu)
@pytest.mark.slow
@pytest.mark.parametrize(("architecture", "floor"), [("x86_64", 0.21), ("arm64", 0.24)])
def test_numpy_and_pandas_slimmed_still_import(tmp_path: Path, architecture: str, floor: float) -> None:
    from lambdapack.python.engine import UvEngine
    from lambdapack.python.install import scrub
    from pyrun import interpreter

    tgt = target("python3.11", architecture)
    tool = strip_tool(tgt, os.environ)
    assert tool is not None, "no strip tool: apt-get install llvm-19 (.ci/run installs it)"
    machine = tgt.architecture.machine
    root = tmp_path / "site"
    command = [UvEngine().uv, "pip", "install", "--quiet", "--target", str(root), "--python-platform"]
    command += [f"{machine}-manylinux_2_17", "--python-version", "3.11", "--only-binary", ":all:"]
    command += ["--no-installer-metadata", "--no-compile-bytecode", *REAL]
    subprocess.run(command, check=True, capture_output=True)
    scrub(root)
    twin = tmp_path / "twin"
    shutil.copytree(root, twin)
    before = tree_size(root)

    options = ["tests", "stubs", "strip"]
    report = slim_tree(root, options, language="python", target=tgt, environ=os.environ)
    after = tree_size(root)
    share = (before - after) / before
    print(f"\n{architecture} with {tool[1]}: {before:,} -> {after:,} bytes ({share:.1%} less)")
    for saving in report.savings:
        print(f"  {saving.option}: {saving.files} files, {saving.bytes:,} bytes")
    assert before - after >= report.bytes  # RECORD rows of removed files go too
    assert share >= floor
    assert savings(report)["strip"][1] >= 1_500_000  # a tool that keeps patched libraries loadable

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    run = [*interpreter("3.11", architecture), "-I", "-S", "-B", "-c", CHECK, str(root)]
    done = subprocess.run(run, capture_output=True, text=True, env=env, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "3 [[0.5, 0.0], [0.0, 0.25]]"

    # the same tree slimmed again elsewhere: the same files, the same bytes
    assert slim_tree(twin, options, language="python", target=tgt, environ=os.environ) == report
    assert files(twin) == files(root)
    different = [n for n in sorted(files(root)) if (root / n).read_bytes() != (twin / n).read_bytes()]
    assert different == []


def test_inspect_shows_what_slimming_would_save(tmp_path: Path) -> None:
    root = python_tree(tmp_path / "site")
    archive = tmp_path / "any.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in sorted(files(root)):
            zf.write(root / name, name)
    shown = cli("inspect", str(archive), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    table = shown.stdout.split("slim option", 1)[1]
    tests_row = next(line for line in table.splitlines() if line.startswith("tests"))
    assert tests_row.split()[1] == str(len(PYTHON_GONE["tests"]))
    assert "stubs" in table and "strip" not in table  # no target recorded: no strip estimate

    as_json = cli("inspect", "--json", str(archive), cwd=tmp_path)
    savings = {s["option"]: s["files"] for s in json.loads(as_json.stdout)["slim"]["savings"]}
    assert savings["tests"] == len(PYTHON_GONE["tests"]) and savings["stubs"] == len(PYTHON_GONE["stubs"])


def test_a_test_module_other_modules_import_stays(tmp_path: Path) -> None:
    """numpy 2.2's numpy.testing imports numpy._core.tests._natype: that module
    stays (removing it breaks `from numpy import *` and scipy); the tests go."""
    root = tmp_path / "site"
    write_tree(
        root,
        {
            "numpy/__init__.py": "",
            "numpy/testing/utils.py": "from numpy._core.tests._natype import pd_NA\n",
            "numpy/_core/__init__.py": "",
            "numpy/_core/tests/_natype.py": "pd_NA = None\n",
            "numpy/_core/tests/test_umath.py": "def test(): pass\n",
            "numpy/_core/tests/data/big.csv": "1,2\n" * 100,
            "numpy/linalg/tests/test_linalg.py": "def test(): pass\n",
            "whole/__init__.py": "import whole.tests\n",
            "whole/tests/__init__.py": "",
            "whole/tests/test_x.py": "",
            "numpy-2.2.6.dist-info/METADATA": "Name: numpy\n",
        },
    )
    record(root, "numpy-2.2.6.dist-info")
    slim_tree(root, ["tests"], language="python", target=PY311, environ=NO_TOOL)
    left = files(root)
    assert "numpy/_core/tests/_natype.py" in left
    assert not {"numpy/_core/tests/test_umath.py", "numpy/_core/tests/data/big.csv"} & left
    assert "numpy/linalg/tests/test_linalg.py" not in left
    assert {"whole/tests/__init__.py", "whole/tests/test_x.py"} <= left  # imported as a package: kept whole
