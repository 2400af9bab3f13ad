#!/usr/bin/env python3
"""Make the hand-made wheels and sdists of tests/wheelhouse, used by the offline tests.

    python3 tests/wheelhouse/make_wheels.py            # rewrite the wheels in tests/wheelhouse/
    python3 tests/wheelhouse/make_wheels.py --out DIR  # write them somewhere else

The files are committed: the tests (and CI) never run this script, except
tests/test_wheelhouse.py, which re-runs it into a temporary directory when the
compilers are installed and checks that it reproduces the committed bytes.

Needs, to re-run it:

- Python >= 3.11 with its C headers (``Python.h``; pyenv and python.org builds
  have them, Debian needs ``python3-dev``), run with that Python;
- ``gcc`` for x86_64 and the cross compiler ``aarch64-linux-gnu-gcc``
  (Debian/Ubuntu: ``apt-get install -y gcc gcc-aarch64-linux-gnu``).

Output is deterministic: the same compilers give the same bytes (entries in a
fixed order, fixed timestamps and modes, zlib level 9; no build ids, no debug
information, stripped). Another gcc version gives other ``.so`` bytes, hence
other wheel hashes; the tests compute hashes from the files, never hard-code
them.

Every project name starts with ``lpfix-`` so that it cannot be mistaken for a
real PyPI project. The one exception is ``jmespath 0.0.0+lpfix``, a stand-in for
a package the Lambda runtime provides (``exclude_runtime_packages`` acts only on
those names); its local version label (``+lpfix``) is one PyPI never serves.
The one file not made here is a real wheel from PyPI, ``flit_core`` (the build
backend of ``lpfix-sdist``, so that it builds offline): committed once
(``pip download --no-deps --only-binary :all: flit_core==3.12.0``), checked
against its hash and copied by this script, never made or downloaded.

The wheels:

- ``lpfix-base`` 1.0.0 and 1.1.0 (``py3-none-any``): pure Python; ships ``tests/``, a ``.pyi`` and
  ``py.typed`` (the dependency-tests hygiene warning, ``dependency_exclude``).
- ``lpfix-pure`` 1.0.0 (``py3-none-any``): requires ``lpfix-base>=1.0`` (a closure to resolve); has a
  console script (``bin/`` is scrubbed).
- ``lpfix-speedup`` 1.0.0 (``cp311``/``cp312``, ``manylinux_2_17`` + ``manylinux2014``, ``x86_64`` and
  ``aarch64``): a real extension module compiled for each machine; requires ``lpfix-pure``.
- ``lpfix-speedup`` 1.0.0 (``cp311-cp311-macosx_11_0_arm64``): a Mach-O "extension module" (never
  resolved for Lambda; for ``check``).
- ``lpfix-glibc`` 1.0.0 (``cp311-abi3-manylinux_2_28_x86_64``): its ``.so`` needs GLIBC_2.28
  (``statx``), honestly tagged: python3.12 gets it, python3.11 (glibc 2.26) has no wheel.
- ``lpfix-mislabeled`` 1.0.0 (``cp311-abi3-manylinux_2_17_x86_64``): the same ``.so``, tagged as if it
  ran on glibc 2.17: what the glibc check is for.
- ``lpfix-needslib`` 1.0.0 (``cp311-abi3-manylinux_2_17_x86_64``): its ``.so`` needs
  ``liblpfixmissing.so.1``, which nothing ships.
- ``jmespath`` 0.0.0+lpfix (``py3-none-any``): a runtime-provided package's stand-in.
- ``lpfix-ceiling`` 1.0.0 (``cp311-abi3``: ``manylinux_2_24_x86_64``, ``manylinux2014_x86_64`` and
  ``manylinux_2_24_aarch64``) and 1.1.0 (``cp311-abi3``: ``manylinux_2_28_x86_64`` and
  ``manylinux_2_28_aarch64``): the exact glibc ceiling. Each ``.so`` has a ``tag()`` returning its
  wheel's platform tag (the string is in its bytes), and needs no versioned glibc symbol. python3.11
  (glibc 2.26) loads 1.0.0, preferring ``manylinux_2_24`` to ``manylinux2014``; python3.12 gets 1.1.0.
- ``flit_core`` 3.12.0 (``py3-none-any``, from PyPI, see above).

The sdists (``.tar.gz``, PEP 625 names; a ``PKG-INFO`` with static metadata 2.2, so that resolvers
read it without building):

- ``lpfix-sdist`` 1.0.0: pure Python, built with ``flit_core.buildapi``; requires ``lpfix-base>=1.0``.
  No wheel: what ``sdists = "pure"`` builds on the host.
- ``lpfix-native`` 1.0.0: a setuptools project with a C extension (``lpfix_native/_native.c``). No
  wheel, and never built offline: ``sdists = "pure"`` refuses it.

Besides them, ``simple/`` is a PEP 503 index of every file (for ``index_url =
"file://…/simple"``), with relative links to the files.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import html
import io
import re
import shutil
import struct
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
GENERATOR = "lpfix-make-wheels 1"
DATE_TIME = (1980, 1, 1, 0, 0, 0)
#: The sdists' member mtimes: 1980-01-01 00:00:00 UTC (zip can hold it: wheels built from them too).
SDIST_MTIME = 315532800
#: Real wheels committed beside the made ones (file name -> sha256): copied, never made.
VENDORED = {
    "flit_core-3.12.0-py3-none-any.whl": "e7a0304069ea895172e3c7bb703292e992c5d1555dd1233ab7b5621b5b69e62c",
}
COMPILERS = {"x86_64": "gcc", "aarch64": "aarch64-linux-gnu-gcc"}
#: No build id, no debug info, stripped, 4 KiB pages (aarch64's default 64 KiB
#: alignment would pad the file with zeros), no separate code segment.
CFLAGS = [
    "-shared",
    "-fPIC",
    "-O2",
    "-g0",
    "-s",
    "-Wl,--build-id=none",
    "-Wl,-z,max-page-size=0x1000",
    "-Wl,-z,common-page-size=0x1000",
    "-Wl,-z,noseparate-code",
    "-Wl,--hash-style=gnu",
]

EXTENSION_C = """\
#define Py_LIMITED_API 0x030B0000
#define _GNU_SOURCE
#include <Python.h>
%(includes)s

%(helpers)s

static PyObject *add(PyObject *self, PyObject *args) {
    long a, b;
    if (!PyArg_ParseTuple(args, "ll", &a, &b))
        return NULL;
    return PyLong_FromLong(a + b);
}

static PyMethodDef methods[] = {
    {"add", add, METH_VARARGS, "Return a + b."},
%(methods)s
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "%(name)s", NULL, -1, methods};

PyMODINIT_FUNC PyInit_%(name)s(void) { return PyModule_Create(&module); }
"""

#: A function calling statx(2): glibc exports it as statx@GLIBC_2.28.
STATX_HELPER = """\
static PyObject *probe(PyObject *self, PyObject *args) {
    struct statx st;
    return PyLong_FromLong(statx(AT_FDCWD, ".", 0, STATX_BASIC_STATS, &st));
}
"""

#: A function calling into liblpfixmissing.so.1 (which no wheel ships).
MISSING_HELPER = """\
extern int lpfix_missing(void);
static PyObject *probe(PyObject *self, PyObject *args) { return PyLong_FromLong(lpfix_missing()); }
"""
PROBE_METHOD = '    {"probe", probe, METH_NOARGS, "Call the helper."},'

#: A function returning the platform tag of the wheel the module came in.
TAG_HELPER = """\
static PyObject *tag(PyObject *self, PyObject *args) { return PyUnicode_FromString("%s"); }
"""
TAG_METHOD = '    {"tag", tag, METH_NOARGS, "The platform tag of this build."},'


@dataclass(frozen=True)
class Wheel:
    name: str  # project name, as in METADATA
    version: str
    tags: tuple[str, ...]  # interpreter-abi-platform
    files: dict[str, bytes]  # package files (not dist-info)
    requires: tuple[str, ...] = ()
    entry_points: str = ""
    summary: str = "lambdapack test fixture"
    purelib: bool = field(default=True)

    @property
    def stem(self) -> str:
        return re.sub(r"[-_.]+", "_", self.name).lower()

    @property
    def filename(self) -> str:
        interpreters, abis, platforms = (
            sorted({t.split("-")[i] for t in self.tags}, key=_tag_order) for i in range(3)
        )
        tag = "-".join(".".join(part) for part in (interpreters, abis, platforms))
        return f"{self.stem}-{self.version}-{tag}.whl"


def _tag_order(part: str) -> tuple[int, str]:
    return (0 if part.startswith("manylinux_") else 1, part)


def compile_so(source: str, machine: str, work: Path, name: str, libs: tuple[str, ...] = ()) -> bytes:
    """Compile C ``source`` into a shared object for ``machine``; its bytes."""
    src = work / f"{name}-{machine}.c"
    out = work / f"{name}-{machine}.so"
    src.write_text(source)
    include = sysconfig.get_paths()["include"]
    command = [COMPILERS[machine], *CFLAGS, f"-I{include}", f"-ffile-prefix-map={work}=.", "-o", str(out)]
    command += [str(src), f"-L{work}", *libs]
    subprocess.run(command, check=True, cwd=work)
    return out.read_bytes()


def missing_library(work: Path) -> None:
    """``liblpfixmissing.so`` (soname ``liblpfixmissing.so.1``) to link against; never shipped."""
    src = work / "missing.c"
    src.write_text("int lpfix_missing(void) { return 1; }\n")
    out = work / "liblpfixmissing.so"
    command = [COMPILERS["x86_64"], *CFLAGS, "-Wl,-soname,liblpfixmissing.so.1", "-o", str(out), str(src)]
    subprocess.run(command, check=True, cwd=work)


def extension(name: str, machine: str, work: Path, kind: str = "plain") -> bytes:
    includes, helpers, methods, libs = "", "", "", ()
    if kind == "statx":
        includes, helpers, methods = "#include <fcntl.h>\n#include <sys/stat.h>", STATX_HELPER, PROBE_METHOD
    elif kind == "missing":
        helpers, methods, libs = MISSING_HELPER, PROBE_METHOD, ("-llpfixmissing",)
    source = EXTENSION_C % {"includes": includes, "helpers": helpers, "methods": methods, "name": name}
    return compile_so(source, machine, work, f"{name}-{kind}", libs)


def tagged_extension(name: str, platform: str, work: Path) -> bytes:
    """An extension module whose ``tag()`` returns ``platform`` (a wheel platform tag)."""
    machine = "aarch64" if platform.endswith("aarch64") else "x86_64"
    source = EXTENSION_C % {
        "includes": "",
        "helpers": TAG_HELPER % platform,
        "methods": TAG_METHOD,
        "name": name,
    }
    return compile_so(source, machine, work, f"{name}-{platform}")


def macho_bundle() -> bytes:
    """A 64-bit arm64 Mach-O bundle header (what a macOS extension module starts with)."""
    mh_magic_64, cpu_type_arm64, mh_bundle = 0xFEEDFACF, 0x0100000C, 8
    return struct.pack("<IiiIIIII", mh_magic_64, cpu_type_arm64, 0, mh_bundle, 0, 0, 0, 0) + bytes(32)


def wheels(work: Path) -> list[Wheel]:
    base_files = {
        "lpfix_base/__init__.py": "VALUE = 21\n\n\ndef value() -> int:\n    return VALUE\n",
        "lpfix_base/__init__.pyi": "VALUE: int\n\ndef value() -> int: ...\n",
        "lpfix_base/py.typed": "",
        "lpfix_base/tests/__init__.py": "",
        "lpfix_base/tests/test_base.py": "from lpfix_base import VALUE\n\n\ndef test_value():\n"
        "    assert VALUE == 21\n",
    }
    out = [
        Wheel(
            name="lpfix-base",
            version=version,
            tags=("py3-none-any",),
            files={k: v.encode() for k, v in base_files.items()}
            | {"lpfix_base/_version.py": f'VERSION = "{version}"\n'.encode()},
        )
        for version in ("1.0.0", "1.1.0")
    ]
    out.append(
        Wheel(
            name="lpfix-pure",
            version="1.0.0",
            tags=("py3-none-any",),
            requires=("lpfix-base>=1.0",),
            files={
                "lpfix_pure/__init__.py": b"from lpfix_base import VALUE\n\n\ndef double() -> int:\n"
                b"    return 2 * VALUE\n\n\ndef main() -> None:\n    print(double())\n",
            },
            entry_points="[console_scripts]\nlpfix-pure = lpfix_pure:main\n",
        )
    )
    for python in ("311", "312"):
        for machine in ("x86_64", "aarch64"):
            so = f"lpfix_speedup/_speedup.cpython-{python}-{machine}-linux-gnu.so"
            out.append(
                Wheel(
                    name="lpfix-speedup",
                    version="1.0.0",
                    tags=(
                        f"cp{python}-cp{python}-manylinux_2_17_{machine}",
                        f"cp{python}-cp{python}-manylinux2014_{machine}",
                    ),
                    requires=("lpfix-pure",),
                    purelib=False,
                    files={
                        "lpfix_speedup/__init__.py": b"from ._speedup import add\n",
                        so: extension("_speedup", machine, work),
                    },
                )
            )
    out.append(
        Wheel(
            name="lpfix-speedup",
            version="1.0.0",
            tags=("cp311-cp311-macosx_11_0_arm64",),
            requires=("lpfix-pure",),
            purelib=False,
            files={
                "lpfix_speedup/__init__.py": b"from ._speedup import add\n",
                "lpfix_speedup/_speedup.cpython-311-darwin.so": macho_bundle(),
            },
        )
    )
    statx = extension("_glibc", "x86_64", work, "statx")
    for name, platform in (("lpfix-glibc", "manylinux_2_28"), ("lpfix-mislabeled", "manylinux_2_17")):
        package = name.replace("-", "_")
        out.append(
            Wheel(
                name=name,
                version="1.0.0",
                tags=(f"cp311-abi3-{platform}_x86_64",),
                purelib=False,
                files={
                    f"{package}/__init__.py": b"from ._glibc import probe\n",
                    f"{package}/_glibc.abi3.so": statx,
                },
            )
        )
    missing_library(work)
    out.append(
        Wheel(
            name="lpfix-needslib",
            version="1.0.0",
            tags=("cp311-abi3-manylinux_2_17_x86_64",),
            purelib=False,
            files={
                "lpfix_needslib/__init__.py": b"from ._needslib import probe\n",
                "lpfix_needslib/_needslib.abi3.so": extension("_needslib", "x86_64", work, "missing"),
            },
        )
    )
    out.append(
        Wheel(
            name="jmespath",
            version="0.0.0+lpfix",
            tags=("py3-none-any",),
            files={"jmespath/__init__.py": b'"""Stand-in for a runtime-provided package (lpfix)."""\n'},
        )
    )
    ceiling = (
        ("1.0.0", "manylinux_2_24_x86_64"),
        ("1.0.0", "manylinux2014_x86_64"),
        ("1.0.0", "manylinux_2_24_aarch64"),
        ("1.1.0", "manylinux_2_28_x86_64"),
        ("1.1.0", "manylinux_2_28_aarch64"),
    )
    for version, platform in ceiling:
        out.append(
            Wheel(
                name="lpfix-ceiling",
                version=version,
                tags=(f"cp311-abi3-{platform}",),
                purelib=False,
                files={
                    "lpfix_ceiling/__init__.py": b"from ._ceiling import add, tag\n",
                    "lpfix_ceiling/_ceiling.abi3.so": tagged_extension("_ceiling", platform, work),
                },
            )
        )
    return out


@dataclass(frozen=True)
class Sdist:
    name: str  # project name, as in PKG-INFO
    version: str
    files: dict[str, str]  # project files below the sdist's top directory (not PKG-INFO)
    requires: tuple[str, ...] = ()
    summary: str = "lambdapack test fixture"

    @property
    def stem(self) -> str:
        return re.sub(r"[-_.]+", "_", self.name).lower()

    @property
    def filename(self) -> str:
        return f"{self.stem}-{self.version}.tar.gz"


def sdists() -> list[Sdist]:
    pure_pyproject = """\
[build-system]
requires = ["flit_core>=3.2,<4"]
build-backend = "flit_core.buildapi"

[project]
name = "lpfix-sdist"
version = "1.0.0"
description = "lambdapack test fixture"
requires-python = ">=3.10"
dependencies = ["lpfix-base>=1.0"]
"""
    native_pyproject = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "lpfix-native"
version = "1.0.0"
description = "lambdapack test fixture"
requires-python = ">=3.10"
"""
    native_setup = """\
from setuptools import Extension, setup

setup(ext_modules=[Extension("lpfix_native._native", ["lpfix_native/_native.c"], py_limited_api=True)])
"""
    native_c = EXTENSION_C % {"includes": "", "helpers": "", "methods": "", "name": "_native"}
    return [
        Sdist(
            name="lpfix-sdist",
            version="1.0.0",
            requires=("lpfix-base>=1.0",),
            files={
                "pyproject.toml": pure_pyproject,
                "lpfix_sdist/__init__.py": '"""Pure Python, published only as an sdist (lpfix)."""\n\n'
                "from lpfix_base import VALUE\n\n\ndef triple() -> int:\n    return 3 * VALUE\n",
            },
        ),
        Sdist(
            name="lpfix-native",
            version="1.0.0",
            files={
                "pyproject.toml": native_pyproject,
                "setup.py": native_setup,
                "lpfix_native/__init__.py": "from ._native import add\n",
                "lpfix_native/_native.c": native_c,
            },
        ),
    ]


def write_sdist(sdist: Sdist, dest: Path) -> Path:
    """A deterministic ``.tar.gz``: sorted members, fixed owner, modes and mtimes, no gzip name or time."""
    pkg_info = [
        "Metadata-Version: 2.2",
        f"Name: {sdist.name}",
        f"Version: {sdist.version}",
        f"Summary: {sdist.summary}",
        "Requires-Python: >=3.10",
        *(f"Requires-Dist: {r}" for r in sdist.requires),
    ]
    top = f"{sdist.stem}-{sdist.version}"
    contents = {"PKG-INFO": "\n".join(pkg_info) + "\n", **sdist.files}
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, text in sorted(contents.items()):
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mtime, info.mode = len(data), SDIST_MTIME, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, compresslevel=9, mtime=0) as gz:
        gz.write(raw.getvalue())
    path = dest / sdist.filename
    path.write_bytes(packed.getvalue())
    return path


def vendored(out: Path) -> list[Path]:
    """The committed PyPI wheels, checked against their hashes (and copied into ``out``)."""
    paths = []
    for name, digest in VENDORED.items():
        source = HERE / name
        if not source.is_file():
            project, version = name.split("-")[:2]
            raise SystemExit(
                f"{source} is missing: python3 -m pip download --no-deps --only-binary :all: "
                f"{project}=={version} -d {HERE}"
            )
        if hashlib.sha256(source.read_bytes()).hexdigest() != digest:
            raise SystemExit(f"{source} is not the committed file (sha256 {digest})")
        if source.resolve() != (out / name).resolve():
            shutil.copyfile(source, out / name)
        paths.append(out / name)
    return paths


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def write_wheel(wheel: Wheel, dest: Path) -> Path:
    dist_info = f"{wheel.stem}-{wheel.version}.dist-info"
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {wheel.name}",
        f"Version: {wheel.version}",
        f"Summary: {wheel.summary}",
        "License: MIT",
        "Requires-Python: >=3.10",
        *(f"Requires-Dist: {r}" for r in wheel.requires),
    ]
    wheel_file = [
        "Wheel-Version: 1.0",
        f"Generator: {GENERATOR}",
        f"Root-Is-Purelib: {'true' if wheel.purelib else 'false'}",
        *(f"Tag: {t}" for t in wheel.tags),
    ]
    contents = dict(sorted(wheel.files.items()))
    contents[f"{dist_info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    contents[f"{dist_info}/WHEEL"] = ("\n".join(wheel_file) + "\n").encode()
    if wheel.entry_points:
        contents[f"{dist_info}/entry_points.txt"] = wheel.entry_points.encode()
    record = "".join(f"{name},{record_hash(data)},{len(data)}\n" for name, data in contents.items())
    contents[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()
    path = dest / wheel.filename
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in contents.items():
            info = zipfile.ZipInfo(name, DATE_TIME)
            info.create_system = 3
            info.external_attr = (0o100755 if name.endswith(".so") else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data, compresslevel=9)
    return path


def write_index(paths: list[Path], dest: Path) -> None:
    """A PEP 503 simple index of the files in ``dest/simple``."""
    simple = dest / "simple"
    shutil.rmtree(simple, ignore_errors=True)
    projects: dict[str, list[Path]] = {}
    for path in paths:
        project = re.sub(r"[-_.]+", "-", path.name.split("-", 1)[0]).lower()
        projects.setdefault(project, []).append(path)
    links = "".join(f'<a href="{p}/">{p}</a>\n' for p in sorted(projects))
    simple.mkdir()
    (simple / "index.html").write_text(f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n")
    for project, files in sorted(projects.items()):
        (simple / project).mkdir()
        anchors = "".join(
            f'<a href="../../{html.escape(p.name)}#sha256={hashlib.sha256(p.read_bytes()).hexdigest()}">'
            f"{html.escape(p.name)}</a>\n"
            for p in sorted(files)
        )
        (simple / project / "index.html").write_text(
            f"<!DOCTYPE html>\n<html><body>\n{anchors}</body></html>\n"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output directory (default: %(default)s)")
    args = parser.parse_args(argv)
    if sys.version_info < (3, 11):
        parser.error("run with Python 3.11 or later (the extensions use the 3.11 limited API)")
    missing = [c for c in COMPILERS.values() if shutil.which(c) is None]
    if missing:
        parser.error(f"needs {', '.join(missing)} (Debian: apt-get install -y gcc gcc-aarch64-linux-gnu)")
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for old in (*out.glob("*.whl"), *out.glob("*.tar.gz")):
        if old.name not in VENDORED:
            old.unlink()
    paths = vendored(out)
    with tempfile.TemporaryDirectory(prefix="lpfix-") as tmp:
        paths += [write_wheel(wheel, out) for wheel in wheels(Path(tmp))]
    paths += [write_sdist(sdist, out) for sdist in sdists()]
    write_index(paths, out)
    for path in sorted(paths):
        print(f"{path.stat().st_size:>7,}  {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
