"""The README's example output is what a build gives (`make readme-example` rewrites it)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
EXAMPLE = REPO / "examples" / "transactions"


def fenced_blocks(text: str) -> list[tuple[int, list[str]]]:
    """(line number of the opening fence, body lines) of every fenced block."""
    blocks: list[tuple[int, list[str]]] = []
    body: list[str] | None = None
    start = 0
    for number, line in enumerate(text.splitlines()):
        if line.startswith("```"):
            if body is None:
                body, start = [], number
            else:
                blocks.append((start, body))
                body = None
        elif body is not None:
            body.append(line)
    return blocks


def example_output() -> list[str]:
    """The block after "Example output of `make demo`:"."""
    text = README.read_text("utf-8")
    marker = text.splitlines().index("Example output of `make demo`:")
    return next(body for start, body in fenced_blocks(text) if start > marker)


def test_readme_begins_with_the_two_commands() -> None:
    text = README.read_text("utf-8")
    start, first = fenced_blocks(text)[0]
    assert first == ["make demo", "make test"]
    assert text.splitlines()[start] == "```sh"
    assert "## Quick start" in text.splitlines()[:start]


def test_example_output_is_shaped_like_make_demo() -> None:
    block = example_output()
    node = block.index(".venv/bin/lambdapack build -C examples/events")
    assert block[0] == ".venv/bin/lambdapack build -C examples/transactions"
    assert block[-1] == (
        "manifests: examples/transactions/dist/lambdapack-manifest.json "
        "examples/events/dist/lambdapack-manifest.json"
    )
    assert [line.split()[0] for line in block[1:node]] == ["api", "status", "worker"]
    assert [line.split()[:2] for line in block[node + 1 : -1]] == [
        ["orders", "nodejs22.x"],
        ["status", "nodejs22.x"],
        ["webhook", "nodejs20.x"],
    ]


def test_status_hash_in_readme_is_what_a_build_gives(tmp_path: Path) -> None:
    """`status` has no dependencies: built offline, its zip must have the README's hash."""
    (line,) = [line for line in example_output() if line.startswith("status ") and "python" in line]
    fields = line.split()
    runtime, architecture, documented = fields[1], fields[2], fields[-1]
    assert re.fullmatch(r"[A-Za-z0-9+/]{43}=", documented), line

    project = tmp_path / "transactions"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("dist", "__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    done = subprocess.run(
        [sys.executable, "-m", "lambdapack", "build", "status", "-C", str(project)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads((project / "dist" / "lambdapack-manifest.json").read_text("utf-8"))
    entry = manifest["artifacts"]["status"]
    assert (entry["runtime"], entry["architecture"]) == (runtime, architecture)
    assert entry["code_sha256"] == documented, (
        "README.md's example output disagrees with the build of `status`; run `make readme-example`"
    )
