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
