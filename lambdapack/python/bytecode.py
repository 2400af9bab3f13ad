"""Target bytecode: ``.pyc`` files compiled by the function's own Python
version, the same bytes on every machine (docs/bytecode.md).

The determinism contract, kept here:

* compiled by a CPython of exactly the target's minor version
  (:func:`find_interpreter`): never another version, never a pre-release whose
  magic number is not the release's, never a free-threaded build;
* PEP 552 unchecked-hash files: the magic number, flags ``0b01`` and the
  SipHash of the source; no timestamp, and never checked against the source
  on import;
* optimisation level 0 (Lambda runs Python without ``-O``); each code object's
  file name is where Lambda imports the module from (``base`` + the path in
  the zip, ``/var/task/pkg/mod.py``), never the build directory (the import
  system puts the source's path there when there is a source; a sourceless
  ``.pyc``'s tracebacks show this one);
* the code object written in a canonical marshal form
  (:func:`_canonical_marshal`), so that the bytes depend on the source alone,
  not on the compiling process;
* the interpreter run with ``PYTHONHASHSEED=0`` (so without ``-I`` and ``-E``,
  which ignore that variable), ``-S -s -B``, no other ``PYTHON*`` variable,
  ``LC_ALL=C.UTF-8``, in an empty directory of its own.

Why a canonical form: ``marshal.dumps`` writes what the compiling process's
memory looks like, not only the value. Compiling 170 standard-library modules
one per process, and all in one process after some imports, gave different
bytes for 152 of them on CPython 3.10 and for 4 on 3.13; on 3.12, ftplib
compiled after a module holding the strings of its frozensets differs from
ftplib compiled alone (on this project's machines). Because

* a value is flagged for reference (``FLAG_REF``) when its reference count is
  above one: an interned name that a loaded module also uses (3.10);
* whether two equal constants are one object depends on what was interned
  before (interned strings are immortal on 3.12+: compiling one module changes
  how the next one's frozensets share their elements);
* whether a string is marked interned depends on it too (3.10: one-character
  strings; 3.13: qualified names an imported module interned);
* frozenset elements come in hash order (3.10) or sorted by each element's
  marshal bytes (3.11+), which carry the reference flag.

The canonical form is the value written out again: a string is marked interned
when it is identifier-like (the ones CPython interns when it makes the code
object anyway); every repeated immutable value is written once and referenced
afterwards, ``FLAG_REF`` exactly on the values referenced; frozenset elements in
the order of their canonical bytes; code objects and mutable containers never
merged. ``marshal.loads`` gives the same code objects back. As the result no
longer depends on the process, a large tree is compiled in batches by parallel
processes: a file compiled alone, in a batch, or after other files gives the
same bytes (tests/test_bytecode.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import struct
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lambdapack import processes
from lambdapack.archive import ArchiveEntry
from lambdapack.cache import key
from lambdapack.errors import ToolError, os_error, tool_details
from lambdapack.python.target import MAGIC_NUMBERS

#: Bumped when the bytes compiled for a source change (part of every cache key).
RECIPE = "1"
#: Flags of an unchecked hash-based .pyc (PEP 552: hash-based, do not check the source).
_UNCHECKED_HASH = b"\x01\x00\x00\x00"
#: Files per worker process, at least (a process costs ~30 ms to start).
_FILES_PER_JOB = 100
_RECORD = struct.Struct("<BI")  # a worker's answer per file: status, length
_COMPILED, _SKIPPED = 0, 1  # the other status, 2: an error (see _worker)
_MINOR_RE = re.compile(r"3\.(\d+)")
_LEVELS = {"alpha": "a", "beta": "b", "candidate": "rc"}


class BytecodeError(ToolError):
    """No interpreter for the target's Python, or compiling with it failed."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Interpreter:
    """A CPython interpreter of the target's minor version."""

    path: Path
    version: str  # full, e.g. "3.11.9"

    @property
    def minor(self) -> str:
        """``"3.11"``."""
        return ".".join(self.version.split(".")[:2])

    @property
    def tag(self) -> str:
        """The cache tag of its ``.pyc`` files: ``"cpython-311"``."""
        return "cpython-" + self.minor.replace(".", "")


@dataclass(frozen=True, kw_only=True, slots=True)
class CompileReport:
    #: ``.pyc`` files written (the sourceless ones included).
    compiled: int
    #: Relative paths of the ``.py`` files that do not compile (SyntaxError …), left as they are.
    skipped: tuple[str, ...]
    #: ``.py`` files replaced by a sourceless ``.pyc`` (``only=True``).
    sourceless: int


# -- finding the interpreter ----------------------------------------------------------


def find_interpreter(
    minor: str, *, configured: Path | None = None, environ: Mapping[str, str]
) -> Interpreter:
    """The CPython of exactly version ``minor`` (``"3.11"``), from the first
    place that has one: ``uv python find`` (never downloading), ``pythonX.Y``
    on ``environ``'s PATH, pyenv's versions (``$PYENV_ROOT/versions/X.Y.*``,
    whose shims fail outside a ``pyenv`` selection), then ``configured`` (the
    ``bytecode_interpreter`` setting). Each candidate is run once to check what
    it is; the interpreter found is the one the candidate runs
    (``sys.executable``, not a shim). No interpreter: :class:`BytecodeError`."""
    found = _MINOR_RE.fullmatch(minor)
    if found is None:
        raise BytecodeError(f"{minor!r} is not a Python 3 version (X.Y)")
    wanted = (3, int(found.group(1)))
    reasons: list[str] = []
    seen: set[str] = set()
    configured_problem = ""
    for label, path in _candidates(minor, configured, environ, reasons):
        try:
            real = str(path.resolve())
        except OSError:
            real = str(path)
        if real in seen:
            continue
        seen.add(real)
        answer = _probe(path, wanted, environ)
        if isinstance(answer, Interpreter):
            return answer
        reasons.append(f"{label} {path}: {answer}")
        if label == "bytecode_interpreter":
            configured_problem = f"; bytecode_interpreter {path} {answer}"
    raise BytecodeError(
        f"bytecode = true needs a Python {minor} interpreter to compile for python{minor}; none found "
        f"(uv python find {minor}, python{minor} on PATH, pyenv, bytecode_interpreter){configured_problem}; "
        f"install one with `uv python install {minor}` or set bytecode_interpreter",
        details="\n".join(reasons),
    )


def _candidates(
    minor: str, configured: Path | None, environ: Mapping[str, str], reasons: list[str]
) -> Iterator[tuple[str, Path]]:
    """Where an interpreter of ``minor`` may be, in order (lazily: uv first)."""
    found = _uv_find(minor, environ, reasons)
    if found is not None:
        yield "uv python find", found
    for directory in environ.get("PATH", "").split(os.pathsep):
        if directory:
            path = Path(directory) / f"python{minor}"
            if path.is_file() and os.access(path, os.X_OK):
                yield "PATH", path
    yield from (("pyenv", path) for path in _pyenv_versions(minor, environ))
    if configured is not None:
        yield "bytecode_interpreter", configured


def _uv_find(minor: str, environ: Mapping[str, str], reasons: list[str]) -> Path | None:
    from lambdapack.python.engine import UvEngine

    try:
        uv = UvEngine(environ=environ).uv
    except OSError as exc:  # uv's wheel without its binary
        reasons.append(f"uv python find: {exc}")
        return None
    # --system: not a virtual environment's interpreter (a managed or installed one).
    command = [uv, "python", "find", "--no-project", "--system", "--no-python-downloads", minor]
    env = {**environ, "UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1"}
    try:
        result = processes.run(command, cwd=Path(os.sep), env=env)
    except OSError as exc:
        reasons.append(f"uv python find: cannot run {uv}: {exc.strerror or exc}")
        return None
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        last = (result.stderr.strip().splitlines() or ["no answer"])[0]
        reasons.append(f"uv python find {minor}: {last}")
        return None
    return Path(lines[0].strip())


def _pyenv_versions(minor: str, environ: Mapping[str, str]) -> list[Path]:
    """pyenv's interpreters of ``minor``, the newest patch release first."""
    home = environ.get("HOME")
    root = environ.get("PYENV_ROOT") or (str(Path(home) / ".pyenv") if home else "")
    if not root:
        return []
    pattern = re.compile(re.escape(minor) + r"\.(\d+)")
    try:
        names = [p.name for p in (Path(root) / "versions").iterdir()]
    except OSError:
        return []
    releases = sorted(
        ((int(m.group(1)), name) for name in names if (m := pattern.fullmatch(name))), reverse=True
    )
    found = [Path(root) / "versions" / name / "bin" / f"python{minor}" for _patch, name in releases]
    return [path for path in found if path.is_file()]


#: Run by each candidate (-I: nothing from the environment or the directory).
_PROBE = """\
import importlib.util, json, sys, sysconfig
print(json.dumps({
    "implementation": sys.implementation.name,
    "version": list(sys.version_info),
    "executable": sys.executable,
    "cache_tag": sys.implementation.cache_tag,
    "gil_disabled": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    "magic": int.from_bytes(importlib.util.MAGIC_NUMBER[:2], "little"),
}))
"""


def _probe(path: Path, wanted: tuple[int, int], environ: Mapping[str, str]) -> Interpreter | str:
    """The interpreter ``path`` runs when it is CPython ``wanted``, else why not."""
    env = {k: v for k, v in environ.items() if not k.startswith("PYTHON")}
    try:
        result = processes.run([str(path), "-I", "-S", "-c", _PROBE], cwd=Path(os.sep), env=env)
    except OSError as exc:
        return f"cannot be run ({exc.strerror or exc})"
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        return f"failed (exit {result.returncode}): {lines[0] if lines else 'no output'}"
    try:
        facts = json.loads(result.stdout)
        major, minor, micro, level, serial = facts["version"]
        name = str(facts["implementation"])
        executable = str(facts["executable"] or path)
        magic = int(facts["magic"])
        tag = str(facts["cache_tag"])
    except (ValueError, KeyError, TypeError):
        return "did not answer like a Python interpreter"
    version = f"{major}.{minor}.{micro}" + (f"{_LEVELS[level]}{serial}" if level in _LEVELS else "")
    expected = MAGIC_NUMBERS.get((major, minor))
    if name != "cpython":
        return f"is {name} {version}, not CPython"
    if (major, minor) != wanted:
        return f"is Python {version}, not {wanted[0]}.{wanted[1]}"
    if facts.get("gil_disabled"):
        return f"is a free-threaded build of {version} (Lambda runs the default build)"
    if tag != f"cpython-{major}{minor}":
        return f"has the cache tag {tag!r}, not cpython-{major}{minor}"
    if expected is not None and magic != expected:
        return f"is {version}, whose bytecode (magic number {magic}) is not the release's ({expected})"
    if expected is None and level != "final":
        return f"is the pre-release {version}"
    return Interpreter(path=Path(executable), version=version)


# -- compiling ----------------------------------------------------------------------------


def compile_tree(
    root: Path, *, interpreter: Interpreter, base: str, only: bool = False, environ: Mapping[str, str]
) -> CompileReport:
    """Compile every ``.py`` under ``root`` (a tree about to be zipped, such as
    installed dependencies) to ``__pycache__/NAME.cpython-3XY.pyc`` beside it,
    each code object named ``base`` + its path under ``root``
    (``/opt/python/pkg/mod.py``). ``only``: a sourceless ``NAME.pyc`` in the
    source's place instead, the ``.py`` removed (a source whose name is no
    module name, ``my-script.py``, keeps its source: scripts and templates are
    read, not imported). Files that do not compile for the target are left as
    they are and listed; other ``.pyc`` files and ``__pycache__`` directories
    are left alone."""
    names = _sources(root)
    prefix = base.rstrip("/") + "/"
    compiled = sourceless = 0
    skipped: list[str] = []
    jobs = [(root / name, prefix + name) for name in names]
    with tempfile.TemporaryDirectory(prefix="lambdapack-pyc-") as scratch:
        for name, outcome in zip(names, _compile(jobs, interpreter, environ, Path(scratch)), strict=True):
            if isinstance(outcome, str):
                skipped.append(name)
                continue
            source = root / name
            try:
                if only and Path(name).stem.isidentifier():
                    _write(source.with_suffix(".pyc"), outcome)
                    source.unlink()
                    sourceless += 1
                else:
                    _write(source.parent / "__pycache__" / f"{source.stem}.{interpreter.tag}.pyc", outcome)
            except OSError as exc:
                raise os_error(exc, "writing bytecode") from None
            compiled += 1
    return CompileReport(compiled=compiled, skipped=tuple(skipped), sourceless=sourceless)


def compile_sources(
    entries: Sequence[ArchiveEntry],
    *,
    interpreter: Interpreter,
    base: str,
    store: Path,
    environ: Mapping[str, str],
) -> tuple[list[ArchiveEntry], tuple[str, ...]]:
    """The ``__pycache__`` entries of the ``.py`` files among ``entries`` (the
    function's own files: name in the zip, file on disk), each code object
    named ``base`` + the entry's name; and the names that do not compile.
    Every result is kept in ``store`` by (source hash, file name, interpreter
    version), so only new or changed sources are compiled (by one interpreter
    process; none when every result is stored)."""
    prefix = base.rstrip("/") + "/"
    made: list[ArchiveEntry] = []
    skipped: list[str] = []
    missing: list[tuple[ArchiveEntry, bytes, str, Path]] = []
    for entry in entries:
        if not entry.name.endswith(".py"):
            continue
        try:
            source = Path(entry.path).read_bytes()
        except OSError as exc:
            raise os_error(exc, "reading a source to compile") from None
        dfile = prefix + entry.name
        digest = key("pyc", RECIPE, hashlib.sha256(source).hexdigest(), dfile, interpreter.version)
        stored = store / digest[:2] / digest
        if _intact(stored.with_suffix(".pyc"), interpreter):
            made.append(_pycache_entry(entry.name, stored.with_suffix(".pyc"), interpreter))
        elif stored.with_suffix(".skip").is_file():
            skipped.append(entry.name)
        else:
            missing.append((entry, source, dfile, stored))
    if missing:
        with tempfile.TemporaryDirectory(prefix="lambdapack-pyc-") as scratch:
            # the bytes hashed, not the file again (it may have changed since)
            jobs = []
            for index, (_entry, source, dfile, _stored) in enumerate(missing):
                copy = Path(scratch) / "src" / f"{index}.py"
                copy.parent.mkdir(exist_ok=True)
                copy.write_bytes(source)
                jobs.append((copy, dfile))
            outcomes = _compile(jobs, interpreter, environ, Path(scratch))
            for (entry, _source, _dfile, stored), outcome in zip(missing, outcomes, strict=True):
                try:
                    if isinstance(outcome, str):
                        _store(stored.with_suffix(".skip"), outcome.encode())
                        skipped.append(entry.name)
                    else:
                        _store(stored.with_suffix(".pyc"), outcome)
                        made.append(_pycache_entry(entry.name, stored.with_suffix(".pyc"), interpreter))
                except OSError as exc:
                    raise os_error(exc, "storing bytecode in the cache") from None
    return sorted(made, key=lambda e: e.name), tuple(sorted(skipped))


def _sources(root: Path) -> list[str]:
    """The ``.py`` files under ``root`` (relative POSIX paths, sorted)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        relative = Path(dirpath).relative_to(root).as_posix()
        for filename in filenames:
            if filename.endswith(".py") and (Path(dirpath) / filename).is_file():
                found.append(filename if relative == "." else f"{relative}/{filename}")
    return sorted(found)


def _pycache_entry(name: str, path: Path, interpreter: Interpreter) -> ArchiveEntry:
    directory, _, filename = name.rpartition("/")
    cached = f"__pycache__/{filename[: -len('.py')]}.{interpreter.tag}.pyc"
    return ArchiveEntry(name=f"{directory}/{cached}" if directory else cached, path=path, executable=False)


def _intact(path: Path, interpreter: Interpreter) -> bool:
    """Whether ``path`` holds an unchecked-hash .pyc of ``interpreter``'s version."""
    try:
        with path.open("rb") as f:
            head = f.read(17)
    except OSError:
        return False
    major, minor = (int(part) for part in interpreter.minor.split("."))
    magic = MAGIC_NUMBERS.get((major, minor))
    return (
        len(head) == 17
        and head[2:4] == b"\r\n"
        and head[4:8] == _UNCHECKED_HASH
        and (magic is None or head[:2] == magic.to_bytes(2, "little"))
    )


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(exist_ok=True)
    with path.open("wb") as f:
        f.write(data)


def _store(path: Path, data: bytes) -> None:
    from lambdapack.atomic import write_bytes

    write_bytes(path, data)


def _compile(
    jobs: Sequence[tuple[Path, str]], interpreter: Interpreter, environ: Mapping[str, str], scratch: Path
) -> Iterator[bytes | str]:
    """Compile each (source, code file name) with ``interpreter``: the .pyc's
    bytes, or why the source does not compile (a str). Large lists are shared
    out round-robin among parallel processes (the bytes do not depend on it)."""
    if not jobs:
        return
    count = max(1, min(os.cpu_count() or 1, len(jobs) // _FILES_PER_JOB))
    shards = [list(jobs[i::count]) for i in range(count)]
    for index, shard in enumerate(shards):
        listing = [[os.fspath(source), dfile] for source, dfile in shard]
        (scratch / f"jobs-{index}.json").write_text(json.dumps(listing), encoding="utf-8")
    env = {k: v for k, v in environ.items() if not k.startswith("PYTHON")}
    env.update(PYTHONHASHSEED="0", LC_ALL="C.UTF-8")
    script = _worker_script()

    def run(index: int) -> None:
        command = [str(interpreter.path), "-S", "-s", "-B", "-X", "utf8", "-c", script]
        command += [f"jobs-{index}.json", f"out-{index}.bin"]
        try:
            result = processes.run(command, cwd=scratch, env=env)
        except OSError as exc:
            raise BytecodeError(
                f"cannot run Python {interpreter.version} ({interpreter.path}) to compile bytecode: "
                f"{exc.strerror or exc}"
            ) from None
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines()
            raise BytecodeError(
                f"compiling bytecode with Python {interpreter.version} ({interpreter.path}) failed: "
                f"{lines[-1] if lines else f'exit {result.returncode}'}",
                details=tool_details([*command[:7], "<worker>", *command[8:]], result.stderr),
            )

    with ThreadPoolExecutor(max_workers=count) as pool:
        for _ in pool.map(run, range(count)):
            pass
    with contextlib.ExitStack() as stack:
        outputs = [stack.enter_context((scratch / f"out-{i}.bin").open("rb")) for i in range(count)]
        for index, (source, _dfile) in enumerate(jobs):
            status, payload = _read_record(outputs[index % count])
            if status == _COMPILED:
                yield payload
            elif status == _SKIPPED:
                yield payload.decode("utf-8", "replace")
            else:
                raise BytecodeError(
                    f"compiling {source} with Python {interpreter.version} failed: "
                    f"{payload.decode('utf-8', 'replace')}"
                )


def _read_record(stream: BinaryIO) -> tuple[int, bytes]:
    head = stream.read(_RECORD.size)
    if len(head) != _RECORD.size:
        raise BytecodeError("the bytecode compiler's answer is cut short")
    status, size = _RECORD.unpack(head)
    payload = stream.read(size)
    if len(payload) != size:
        raise BytecodeError("the bytecode compiler's answer is cut short")
    return status, payload


def _worker_script() -> str:
    """The program each interpreter runs: :func:`_worker` and what it needs."""
    import inspect

    parts = [inspect.getsource(_canonical_marshal), inspect.getsource(_worker)]
    return "from __future__ import annotations\n\n" + "\n\n".join(parts) + "\n\n_worker()\n"


# -- what runs in the target's interpreter ------------------------------------------------
#
# The two functions below are sent to the interpreter as source: they use the
# standard library only, work on Python 3.10 and later, and need nothing else
# from this module.


def _worker() -> None:  # pragma: no cover - runs in the target's interpreter
    """Compile each (source, code file name) of the JSON list ``sys.argv[1]``
    into ``sys.argv[2]``: per file a status byte (0 a .pyc follows, 1 the
    source does not compile, 2 an error), a little-endian length and the bytes."""
    import importlib.util
    import json
    import marshal
    import struct
    import sys
    import warnings
    from pathlib import Path

    warnings.simplefilter("ignore")  # SyntaxWarning and the like: not ours to show
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    header = importlib.util.MAGIC_NUMBER + b"\x01\x00\x00\x00"  # PEP 552: unchecked hash
    record = struct.Struct("<BI")
    jobs = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    with Path(sys.argv[2]).open("wb") as out:
        for path, dfile in jobs:
            try:
                source = Path(path).read_bytes()
            except OSError as exc:
                answer = (2, f"cannot read it: {exc}".encode())
            else:
                try:
                    code = compile(source, dfile, "exec", dont_inherit=True, optimize=0)
                except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError) as exc:
                    answer = (1, f"{type(exc).__name__}: {exc}".encode("utf-8", "replace"))
                else:
                    try:
                        data = _canonical_marshal(marshal.dumps(code), sys.version_info[1])
                    except ValueError as exc:
                        answer = (2, f"cannot write its bytecode in canonical form: {exc}".encode())
                    else:
                        answer = (0, header + importlib.util.source_hash(source) + data)
            out.write(record.pack(answer[0], len(answer[1])))
            out.write(answer[1])


def _canonical_marshal(data: bytes, minor: int) -> bytes:
    """``data`` (``marshal.dumps`` of a code object of CPython 3.``minor``)
    written in canonical form (see the module's docstring): the same bytes for
    the same value whatever the writing process's state."""
    import struct

    u32 = struct.Struct("<I")
    i32 = struct.Struct("<i")
    # a code object: 32-bit fields, objects, the first line number, objects
    before, middle, after = (6, 8, 1) if minor == 10 else (5, 8, 2)
    singletons = frozenset(b"0NFTS.")  # NULL, None, False, True, StopIteration, Ellipsis
    fixed = {ord("i"): 4, ord("I"): 8, ord("g"): 8, ord("y"): 16}
    sized = frozenset(b"stuaA")  # 32-bit length, then the bytes
    short = frozenset(b"zZf")  # 8-bit length, then the bytes
    strings = frozenset(b"zZaAtu")
    unshared = frozenset(b"[{<c")  # list, dict, set, code: never merged
    name_chars = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"

    kinds: list[int] = []  # node -> its type byte; -1: raw bytes, never referenced
    bodies: list[bytes | tuple[int, ...]] = []  # node -> payload, or child nodes
    reached: list[int] = []  # node -> occurrences among the distinct nodes' children
    table: dict[object, int] = {}
    references: list[int] = []  # reference index in ``data`` -> node (-1 while being read)
    flats: dict[int, bytes] = {}
    pos = 0

    def add(kind: int, body: bytes | tuple[int, ...], merge: bool = True) -> int:
        key = (kind, body)
        if merge:
            node = table.get(key)
            if node is not None:
                return node
        node = len(kinds)
        kinds.append(kind)
        bodies.append(body)
        reached.append(0)
        if merge:
            table[key] = node
        if kind >= 0 and isinstance(body, tuple):
            for child in body:
                reached[child] += 1
        return node

    def flat(node: int) -> bytes:
        """The node's canonical bytes with no references (the order of set elements)."""
        done = flats.get(node)
        if done is None:
            kind, body = kinds[node], bodies[node]
            if isinstance(body, tuple):
                done = bytes((kind,)) + b"".join(flat(child) for child in body)
            else:
                done = body if kind < 0 else bytes((kind,)) + body
            flats[node] = done
        return done

    def interned(kind: int, body: bytes) -> int:
        """The string's type: interned exactly when identifier-like."""
        text = body[1:] if kind in b"zZ" else body[4:]
        if text.isascii():
            name = not text.translate(None, name_chars)
        else:
            name = text.decode("utf-8", "surrogatepass").isidentifier()
        if kind in b"zZ":
            return ord("Z") if name else ord("z")
        if kind in b"aA":
            return ord("A") if name else ord("a")
        return ord("t") if name else ord("u")

    def read() -> int:
        nonlocal pos
        code = data[pos]
        kind = code & 0x7F
        start = pos = pos + 1
        if kind in singletons:
            return add(-1, data[start - 1 : start])
        if kind == ord("r"):
            node: int = references[u32.unpack_from(data, pos)[0]]
            pos += 4
            if node < 0:
                raise ValueError("a reference to an object being read")
            return node
        slot = -1
        if code & 0x80:
            slot = len(references)
            references.append(-1)
        size = fixed.get(kind)
        body: bytes | tuple[int, ...] = b""
        if size is not None:
            pos += size
        elif kind in sized:
            pos += 4 + u32.unpack_from(data, pos)[0]
        elif kind in short:
            pos += 1 + data[pos]
        elif kind == ord("l"):
            pos += 4 + 2 * abs(i32.unpack_from(data, pos)[0])
        elif kind == ord("x"):
            pos += 1 + data[pos]
            pos += 1 + data[pos]
        elif kind in b"(<>[":
            pos += 4
            items = [read() for _ in range(u32.unpack_from(data, start)[0])]
            if kind in b"<>":
                items.sort(key=flat)
            body = (add(-1, data[start : start + 4]), *items)
        elif kind == ord(")"):
            pos += 1
            body = (add(-1, data[start : start + 1]), *[read() for _ in range(data[start])])
        elif kind == ord("c"):
            pos += 4 * before
            head = add(-1, data[start:pos])
            first = [read() for _ in range(middle)]
            pos += 4
            line = add(-1, data[pos - 4 : pos])
            body = (head, *first, line, *[read() for _ in range(after)])
        elif kind == ord("{"):
            pairs: list[int] = []
            while data[pos] != ord("0"):
                pairs.append(read())
                pairs.append(read())
            pos += 1
            body = (*pairs, add(-1, b"0"))
        elif kind == ord(":"):  # a slice (3.14)
            body = (read(), read(), read())
        else:
            raise ValueError(f"unknown marshal type {chr(kind)!r} at offset {start - 1}")
        if pos > len(data):
            raise ValueError("the marshal data is cut short")
        if isinstance(body, bytes):  # a value of its own bytes: a number, a string
            body = data[start:pos]
            if kind in strings:
                kind = interned(kind, body)
        node = add(kind, body, kind not in unshared)
        if slot >= 0:
            references[slot] = node
        return node

    root = read()
    if pos != len(data):
        raise ValueError("bytes after the marshal data")
    reached[root] += 1
    out = bytearray()
    index: dict[int, int] = {}

    def write(children: tuple[int, ...]) -> None:
        for child in children:
            kind = kinds[child]
            body = bodies[child]
            if kind < 0:
                assert isinstance(body, bytes)
                out.extend(body)
                continue
            if reached[child] > 1:
                known = index.get(child)
                if known is not None:
                    out.append(ord("r"))
                    out.extend(u32.pack(known))
                    continue
                index[child] = len(index)
                out.append(kind | 0x80)
            else:
                out.append(kind)
            if isinstance(body, tuple):
                write(body)
            else:
                out.extend(body)

    write((root,))
    return bytes(out)
