"""``lambdapack diff`` (lambdapack/difference.py): real zips built by lambdapack
from the committed wheelhouse, the same trees re-zipped by Info-ZIP's ``zip``
and by Python's ``zipfile``, and hand-made zips for order and zip64."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

import lambdapack
from conftest import Tripwire, cli, offline_environment, offline_requirements, write_tree
from lambdapack.difference import DIRECTORIES, KINDS, OWN_CODE, Difference, compare

APP = "import lpfix_base\n\n\ndef handler(event, context):\n    return lpfix_base.__name__\n"
CONFIG = "".join(
    f'[functions.{name}]\nsource = "{source}"\nhandler = "app.handler"\nruntime = "python3.12"\n'
    f'architecture = "arm64"\nrequirements = "{requirements}"\n'
    for name, source, requirements in (
        ("base", "fn", "old.txt"),
        ("edited", "edited", "old.txt"),
        ("bumped", "fn", "new.txt"),
    )
)


@pytest.fixture(scope="module")
def zips(tmp_path_factory: pytest.TempPathFactory, tripwire: Tripwire, _uv_cache: Path) -> dict[str, Path]:
    """One project built once (``base``; ``edited``: one line of app.py changed;
    ``bumped``: lpfix-base 1.1.0 instead of 1.0.0), and a copy of it in another
    directory built again (``again``). Its builds run before the per-test
    offline guard, so they get the guard's environment explicitly."""
    work = tmp_path_factory.mktemp("diff")
    root = write_tree(
        work / "project",
        {
            "lambdapack.toml": CONFIG,
            "old.txt": offline_requirements("lpfix-base==1.0.0"),
            "new.txt": offline_requirements("lpfix-base==1.1.0"),
            "fn/app.py": APP,
            "edited/app.py": APP.replace("__name__", "__name__.upper()"),
        },
    )
    env = offline_environment(tripwire, _uv_cache)
    assert (built := cli("build", cwd=root, env=env)).returncode == 0, built.stderr
    again = shutil.copytree(root, work / "elsewhere" / "copy", ignore=shutil.ignore_patterns("dist"))
    assert (built := cli("build", "base", cwd=again, env=env)).returncode == 0, built.stderr
    assert tripwire.take() == []
    found = {name: root / "dist" / f"{name}.zip" for name in ("base", "edited", "bumped")}
    return found | {"again": again / "dist" / "base.zip"}


def _rezip(source: Path, dest: Path, names: list[str], mode: int = 0o644) -> Path:
    """``source``'s entries (in the order ``names``) written anew by Python's
    zipfile, with lambdapack's timestamps and the Unix ``mode``."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in names:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(info, zin.read(name))
    return dest


def _info(name: str) -> zipfile.ZipInfo:
    """A member written with a fixed timestamp (zipfile's default is the time of the call)."""
    return zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))


def _names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return zf.namelist()


# -- the cases -------------------------------------------------------------------------------


def test_the_same_project_built_twice_is_identical(zips: dict[str, Path]) -> None:
    diff = compare(zips["base"], zips["again"])
    assert diff.identical and diff.same_contents
    assert diff.verdict == "identical (same bytes)"
    assert (diff.only_a, diff.only_b, diff.changed, diff.groups, diff.metadata) == ((), (), (), (), ())
    result = cli("diff", str(zips["base"]), str(zips["again"]), cwd=zips["base"].parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "identical (same bytes)"


def test_one_source_edit_is_own_code_content(zips: dict[str, Path]) -> None:
    diff = compare(zips["base"], zips["edited"])
    assert not diff.identical and not diff.same_contents
    assert diff.verdict.startswith("1 own file (+") and diff.verdict.endswith(" zipped)")
    (group,) = diff.groups
    assert (group.key, group.kind, group.label()) == (OWN_CODE, "own code", "own code")
    (entry,) = diff.changed
    assert (entry.name, entry.kinds, entry.group) == ("app.py", ("content",), OWN_CODE)
    assert entry.size_b == entry.size_a + len(".upper()")  # type: ignore[operator]
    assert group.compressed_delta == diff.zipped_delta == entry.compressed_delta
    result = cli("diff", str(zips["base"]), str(zips["edited"]), cwd=zips["base"].parent)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == diff.verdict
    assert any(line.startswith("own code: 1 changed (") for line in lines)
    assert any(line.split()[:3] == ["changed", "app.py", "content"] for line in lines)


def test_one_dependency_bumped_is_one_distribution_with_both_versions(zips: dict[str, Path]) -> None:
    diff = compare(zips["base"], zips["bumped"])
    assert diff.verdict.startswith("1 distribution changed (")
    assert not diff.same_contents and diff.metadata == (("content", 1),)
    (group,) = diff.groups
    assert (group.name, group.version_a, group.version_b) == ("lpfix-base", "1.0.0", "1.1.0")
    assert group.label() == "lpfix-base 1.0.0 → 1.1.0"
    assert [e.name for e in group.only_a] == [
        f"lpfix_base-1.0.0.dist-info/{f}" for f in ("METADATA", "RECORD", "WHEEL")
    ]
    assert [e.name for e in group.only_b] == [
        f"lpfix_base-1.1.0.dist-info/{f}" for f in ("METADATA", "RECORD", "WHEEL")
    ]
    assert {e.name: e.kinds for e in group.changed} == {"lpfix_base/_version.py": ("content",)}
    result = cli("diff", str(zips["base"]), str(zips["bumped"]), cwd=zips["base"].parent)
    assert result.returncode == 1
    header = "lpfix-base 1.0.0 → 1.1.0: 3 only in A, 3 only in B, 1 changed ("
    assert any(line.startswith(header) for line in result.stdout.splitlines())


def test_both_directions_mirror_each_other(zips: dict[str, Path]) -> None:
    for a, b in (("base", "bumped"), ("base", "edited")):
        forth, back = compare(zips[a], zips[b]), compare(zips[b], zips[a])
        assert [e.name for e in forth.only_a] == [e.name for e in back.only_b]
        assert [e.name for e in forth.only_b] == [e.name for e in back.only_a]
        assert [(e.name, e.kinds) for e in forth.changed] == [(e.name, e.kinds) for e in back.changed]
        assert [(g.key, g.version_a, g.version_b) for g in forth.groups] == [
            (g.key, g.version_b, g.version_a) for g in back.groups
        ]
        assert forth.zipped_delta == -back.zipped_delta
        assert [g.compressed_delta for g in forth.groups] == [-g.compressed_delta for g in back.groups]
        assert forth.metadata == back.metadata
    assert compare(zips["bumped"], zips["base"]).groups[0].label() == "lpfix-base 1.1.0 → 1.0.0"


@pytest.mark.skipif(shutil.which("zip") is None, reason="needs Info-ZIP's zip")
def test_the_same_tree_zipped_by_zip_differs_only_in_metadata(zips: dict[str, Path], tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    with zipfile.ZipFile(zips["bumped"]) as zf:
        zf.extractall(tree)  # files get today's mtime and the umask's mode
    rezipped = tmp_path / "rezipped.zip"
    subprocess.run(["zip", "-q", "-r", str(rezipped), "."], cwd=tree, check=True)
    diff = compare(zips["bumped"], rezipped)
    assert diff.same_contents and not diff.identical and not diff.only_a
    assert diff.verdict.startswith("same contents, different metadata: ")
    counts = dict(diff.metadata)
    files = len(_names(zips["bumped"]))
    assert "content" not in counts
    assert counts["timestamp"] == counts["extra fields"] == counts["made by"] == files
    assert f"timestamps on {files}" in diff.verdict and "extra fields on" in diff.verdict
    assert "made by on" in diff.verdict
    # Info-ZIP adds an entry per directory: named as such, never content
    directories = [e.name for e in diff.only_b]
    assert directories and all(name.endswith("/") for name in directories)
    assert {"lpfix_base/", "lpfix_base-1.1.0.dist-info/"} <= set(directories)
    assert {e.group for e in diff.only_b} == {DIRECTORIES}
    assert f"{len(directories)} directory entries only in B" in diff.verdict
    assert compare(rezipped, zips["bumped"]).verdict.count("directory entries only in A") == 1


def test_a_zipfile_zip_with_0600_modes_names_the_modes(zips: dict[str, Path], tmp_path: Path) -> None:
    names = _names(zips["base"])
    private = _rezip(zips["base"], tmp_path / "private.zip", names, mode=0o600)
    diff = compare(zips["base"], private)
    assert diff.same_contents and not diff.only_a and not diff.only_b
    counts = dict(diff.metadata)
    assert counts["mode"] == len(names) and "timestamp" not in counts and "content" not in counts
    assert diff.verdict.startswith(f"same contents, different metadata: modes on {len(names)} entries")
    # the same tree with the modes lambdapack writes: the modes are no longer named
    public = _rezip(zips["base"], tmp_path / "public.zip", names, mode=0o644)
    assert "mode" not in dict(compare(zips["base"], public).metadata)
    assert dict(compare(public, private).metadata) == {"mode": len(names)}


def test_entries_reordered_is_order_only(zips: dict[str, Path], tmp_path: Path) -> None:
    names = _names(zips["base"])
    sorted_zip = _rezip(zips["base"], tmp_path / "sorted.zip", names)
    moved = _rezip(zips["base"], tmp_path / "moved.zip", [names[-1], *names[:-1]])
    diff = compare(sorted_zip, moved)
    assert (diff.changed, diff.only_a, diff.only_b, diff.groups) == ((), (), (), ())
    assert diff.same_contents and not diff.identical
    assert diff.reordered == 1 and diff.archive == ("order",)
    assert diff.verdict == "same contents, different metadata: entries in another order (1 moved)"
    reversed_zip = _rezip(zips["base"], tmp_path / "reversed.zip", names[::-1])
    assert compare(sorted_zip, reversed_zip).reordered == len(names) - 1


def test_json_schema(zips: dict[str, Path]) -> None:
    result = cli("diff", "--json", str(zips["base"]), str(zips["bumped"]), cwd=zips["base"].parent)
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["version"] == 1
    assert set(document) == {
        "version", "a", "b", "identical", "same_contents", "verdict", "zipped_delta", "metadata",
        "reordered", "archive", "first_difference", "groups", "only_a", "only_b", "changed",
    }  # fmt: skip
    for side, path in (("a", zips["base"]), ("b", zips["bumped"])):
        assert document[side] == {
            "path": str(path),
            "size": path.stat().st_size,
            "entries": len(_names(path)),
            "zip64": False,
        }
    assert document["identical"] is False and document["same_contents"] is False
    assert document["verdict"].startswith("1 distribution changed")
    assert document["zipped_delta"] == zips["bumped"].stat().st_size - zips["base"].stat().st_size
    assert document["metadata"] == {"content": 1} and document["reordered"] == 0
    assert document["archive"] == [] and document["first_difference"] is None
    (group,) = document["groups"]
    assert set(group) == {
        "key", "name", "kind", "version_a", "version_b", "content_changed", "compressed_delta",
        "size_delta", "only_a", "only_b", "changed",
    }  # fmt: skip
    assert (group["name"], group["kind"], group["version_a"], group["version_b"]) == (
        "lpfix-base", "distribution", "1.0.0", "1.1.0",
    )  # fmt: skip
    assert group["content_changed"] is True and isinstance(group["compressed_delta"], int)
    assert all(isinstance(name, str) for name in group["only_a"] + group["only_b"] + group["changed"])
    entries = document["only_a"] + document["only_b"] + document["changed"]
    assert len(entries) == 7
    for entry in entries:
        assert set(entry) == {"name", "group", "kinds", "size_a", "size_b", "compressed_a", "compressed_b"}
        assert entry["group"] == "lpfix-base" and set(entry["kinds"]) <= set(KINDS)
    assert all(e["size_b"] is None and e["compressed_b"] is None for e in document["only_a"])
    assert all(e["size_a"] is None and isinstance(e["size_b"], int) for e in document["only_b"])
    same = cli("diff", "--json", str(zips["base"]), str(zips["again"]), cwd=zips["base"].parent)
    assert same.returncode == 0 and json.loads(same.stdout)["identical"] is True


# -- more --------------------------------------------------------------------------------------------


def test_a_zip64_entry_is_named(tmp_path: Path) -> None:
    def make(path: Path, force: bool) -> Path:
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr(_info("a.txt"), b"a")
            with zf.open(
                zipfile.ZipInfo("b.txt", date_time=(1980, 1, 1, 0, 0, 0)), "w", force_zip64=force
            ) as f:
                f.write(b"b")
        return path

    diff = compare(make(tmp_path / "plain.zip", False), make(tmp_path / "zip64.zip", True))
    assert diff.same_contents
    (entry,) = diff.changed
    assert entry.name == "b.txt" and "zip64" in entry.kinds and "content" not in entry.kinds
    assert "zip64 fields on 1 entry" in diff.verdict or ", zip64 fields on 1" in diff.verdict


def test_same_central_directory_other_bytes_names_the_offset(zips: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(zips["base"].read_bytes())
    data[10] ^= 0x01  # the first local header's modification time; the central directory is intact
    patched = tmp_path / "patched.zip"
    patched.write_bytes(bytes(data))
    diff = compare(zips["base"], patched)
    assert not diff.identical and diff.same_contents and diff.first_difference == 10
    assert diff.verdict == (
        "same contents and central directory, different bytes from byte 10 (local headers or compressed data)"
    )


def test_compare_reads_no_member_but_the_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two ~50 MB zips of incompressible data: only the central directories,
    the local headers and the distributions' RECORD files are read."""
    chunk = os.urandom(17 * 1024)

    def make(path: Path, bump: bool) -> Path:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
            version = "2.0" if bump else "1.0"
            files = [f"big/m{i:04}.bin" for i in range(3000)]
            for i, name in enumerate(files):
                zf.writestr(
                    _info(name), chunk + i.to_bytes(4, "little") + (b"x" if bump and i % 1000 == 0 else b"")
                )
            record = "".join(f"{n},,\n" for n in files) + f"big-{version}.dist-info/RECORD,,\n"
            zf.writestr(_info(f"big-{version}.dist-info/RECORD"), record)
            zf.writestr(_info("app.py"), "print(1)\n")
        return path

    a, b = make(tmp_path / "a.zip", False), make(tmp_path / "b.zip", True)
    assert a.stat().st_size > 50_000_000
    opened: list[str] = []
    original = zipfile.ZipFile.open

    def guarded(
        self: zipfile.ZipFile, name: str | zipfile.ZipInfo, *args: object, **kwargs: object
    ) -> object:
        member = name.filename if isinstance(name, zipfile.ZipInfo) else name
        if not member.endswith(("/RECORD", "/METADATA", "package.json")):
            raise AssertionError(f"compare read a member's content: {member}")
        opened.append(member)
        return original(self, name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(zipfile.ZipFile, "open", guarded)
    diff = compare(a, b)
    assert opened and set(opened) == {"big-1.0.dist-info/RECORD", "big-2.0.dist-info/RECORD"}
    assert diff.verdict.startswith("1 distribution changed (+")
    (group,) = diff.groups
    assert group.label() == "big 1.0 → 2.0" and len(group.changed) == 3


def test_errors_and_exit_codes(zips: dict[str, Path], tmp_path: Path) -> None:
    missing = cli("diff", str(zips["base"]), str(tmp_path / "nope.zip"), cwd=tmp_path)
    assert missing.returncode == 2 and "nope.zip: no such file" in missing.stderr
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    unreadable = cli("diff", str(junk), str(zips["base"]), cwd=tmp_path)
    assert unreadable.returncode == 3
    assert (
        unreadable.stderr.strip()
        == f"lambdapack: error: {junk}: not a readable zip file (File is not a zip file)"
    )
    assert "Traceback" not in missing.stderr + unreadable.stderr


def test_top_caps_each_group_and_the_python_api(zips: dict[str, Path]) -> None:
    result = cli("diff", "--top", "2", str(zips["base"]), str(zips["bumped"]), cwd=zips["base"].parent)
    lines = result.stdout.splitlines()
    assert "  … 5 more (--top N shows more)" in lines
    assert sum(line.startswith(("  only in", "  changed")) for line in lines) == 2
    found = lambdapack.compare_zips(str(zips["base"]), zips["bumped"])
    assert isinstance(found, lambdapack.Difference) and isinstance(found, Difference)
    assert "compare_zips" in lambdapack.__all__
