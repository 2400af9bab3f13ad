"""The shared cache: what `cache info` counts."""

from __future__ import annotations

from pathlib import Path

from lambdapack.cache import Cache


def test_info_counts_entries_not_the_writers_file_locks(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks" / "abc.txt").write_text("six==1.17.0\n")
    (tmp_path / "locks" / ".deps-0123.lock").write_text("")
    (tmp_path / "deps" / "k1" / "site").mkdir(parents=True)
    (tmp_path / "deps" / "k1" / "payload.bin").write_bytes(b"x" * 10)
    info = cache.info()
    assert info["locks"] == {"entries": 1, "bytes": len("six==1.17.0\n")}
    assert info["deps"] == {"entries": 1, "bytes": 10}
    assert info["objects"] == {"entries": 0, "bytes": 0}
    assert cache.clean() == len("six==1.17.0\n") + 10
    assert not (tmp_path / "locks").exists()


def test_a_tool_is_looked_for_once_while_its_directories_and_file_stay_the_same(tmp_path: Path) -> None:
    from lambdapack.cache import Cache

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "llvm-strip-19"
    tool.write_text("#!/bin/sh\n")
    calls: list[int] = []

    def find() -> tuple[str, str]:
        calls.append(1)
        return str(tool), "llvm-strip-19 version 19.1.7"

    cache = Cache(tmp_path / "cache")
    assert cache.tool("strip aarch64", [str(bin_dir)], find) == (str(tool), "llvm-strip-19 version 19.1.7")
    assert cache.tool("strip aarch64", [str(bin_dir)], find) == (str(tool), "llvm-strip-19 version 19.1.7")
    assert len(calls) == 1  # remembered
    (bin_dir / "llvm-strip-20").write_text("#!/bin/sh\n")  # a new tool where it is looked for
    cache.tool("strip aarch64", [str(bin_dir)], find)
    assert len(calls) == 2
    tool.write_text("#!/bin/sh\n# upgraded\n")  # the tool itself changed
    cache.tool("strip aarch64", [str(bin_dir)], find)
    assert len(calls) == 3
    cache.tool("strip aarch64", [str(bin_dir)], lambda: None)  # found nothing: nothing remembered
