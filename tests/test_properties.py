"""Property-based tests (hypothesis): the zip writer over random trees is read
back identically by Info-ZIP's `unzip -t` and by `zipfile`; the config loader
over random and mutated TOML never fails with an internal error."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import cli
from lambdapack.archive import ArchiveEntry, name_problem, write
from lambdapack.config import load_project
from lambdapack.errors import LambdapackError

_SEGMENT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\\0:"),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", ".."))
_NAME = st.lists(_SEGMENT, min_size=1, max_size=3).map("/".join)
_FILE = st.tuples(_NAME, st.binary(max_size=3000) | st.just(b""), st.booleans())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(_FILE, min_size=1, max_size=12, unique_by=lambda f: f[0]))
def test_random_trees_zip_as_unzip_and_zipfile_read_them(
    tmp_path: Path, files: list[tuple[str, bytes, bool]]
) -> None:
    names = [name for name, _data, _x in files]
    prefixes = {"/".join(n.split("/")[:i]) for n in names for i in range(1, n.count("/") + 1)}
    if prefixes & set(names):  # a file where another needs a directory: not a tree
        return
    entries = []
    for index, (name, data, executable) in enumerate(files):
        path = tmp_path / "src" / f"{index}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        assert name_problem(name) is None
        entries.append(ArchiveEntry(name=name, path=path, executable=executable))
    dest = tmp_path / "out" / "t.zip"
    written = write(entries, dest)
    assert written.entries == len(files)
    tested = subprocess.run(["unzip", "-tq", str(dest)], capture_output=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    with zipfile.ZipFile(dest) as zf:
        assert zf.testzip() is None
        assert [i.filename for i in zf.infolist()] == sorted(names, key=lambda n: n.encode())
        for name, data, executable in files:
            info = zf.getinfo(name)
            assert zf.read(info) == data
            assert info.external_attr >> 16 == (0o100755 if executable else 0o100644)
    again = write(entries, tmp_path / "again.zip")
    assert again.sha256 == written.sha256  # the same entries, the same bytes


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
_KEYS = st.sampled_from(
    ["runtime", "architecture", "output", "exclude", "include", "functions", "index_url", "find_links", "x"]
)
_FUNCTION_KEYS = st.sampled_from(
    ["source", "handler", "runtime", "architecture", "requirements", "extras", "groups", "exclude", "package"]
)


def _toml(value: object) -> str:
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in value.items()) + "}"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    top=st.dictionaries(_KEYS, _VALUES, max_size=4),
    function=st.dictionaries(_FUNCTION_KEYS, _VALUES, max_size=5),
    cut=st.integers(min_value=0, max_value=400),
)
def test_any_config_is_loaded_or_reported_never_crashes(
    tmp_path: Path, top: dict[str, object], function: dict[str, object], cut: int
) -> None:
    (tmp_path / "fn").mkdir(exist_ok=True)
    (tmp_path / "fn" / "app.py").write_text("def handler(e, c):\n    return 1\n")
    text = "".join(f"{k} = {_toml(v)}\n" for k, v in top.items() if k != "functions")
    text += "[functions.api]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in function.items())
    for candidate in (text, text[:cut]):  # whole, and cut anywhere (usually not TOML any more)
        config = tmp_path / "lambdapack.toml"
        config.write_text(candidate)
        try:
            load_project(config)
        except LambdapackError as exc:
            assert exc.exit_code == 2 and str(exc), candidate
        result = cli("build", "--no-verify", "-q", cwd=tmp_path)
        assert result.returncode in (0, 1, 2, 3), result.stderr
        assert "internal error" not in result.stderr, (candidate, result.stderr)
