"""Rewrite the README's example output from a real build of the example projects.

    python scripts/readme_example.py [--readme README.md] [--check]

Runs `.venv/bin/lambdapack build -C examples/transactions` and `... -C
examples/events` from the repository root into fresh dist/ directories (as
`make demo` does, with SOURCE_DATE_EPOCH unset), then replaces in the README:

- the fenced block after "Example output of `make demo`:" with the command
  line, the build's summary and the `manifest: ...` line, as `make demo`
  prints them;
- the JSON block after "shortened to its `api` entry:" under "## Outputs" with
  the real manifest reduced to its `api` entry.

Needs PyPI (two of the example's functions have dependencies). With --check,
nothing is written: the exit code is 1 when the README differs from the build.
`make readme-example` runs it on README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: As in the Makefile: `$(BIN)/lambdapack build -C $(EXAMPLE)`, run from the repository root.
LAMBDAPACK = ".venv/bin/lambdapack"
EXAMPLE = "examples/transactions"
NODE_EXAMPLE = "examples/events"
OUTPUT_MARKER = "Example output of `make demo`:"
MANIFEST_MARKER = "shortened to its `api` entry:"


def build() -> tuple[list[str], dict[str, object]]:
    """Build the examples afresh; return the block's lines and the Python example's manifest."""
    lines: list[str] = []
    for example in (EXAMPLE, NODE_EXAMPLE):
        shutil.rmtree(REPO / example / "dist", ignore_errors=True)
        command = [LAMBDAPACK, "build", "-C", example]
        env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            raise SystemExit(f"readme_example: `{' '.join(command)}` failed with exit code {done.returncode}")
        lines += [" ".join(command), *done.stderr.rstrip("\n").splitlines()]
    manifests = " ".join(f"{e}/dist/lambdapack-manifest.json" for e in (EXAMPLE, NODE_EXAMPLE))
    lines.append(f"manifests: {manifests}")
    manifest = json.loads((REPO / EXAMPLE / "dist" / "lambdapack-manifest.json").read_text("utf-8"))
    return lines, manifest


def replace_block(text: str, marker: str, body: list[str]) -> str:
    """``text`` with the body of the first fenced block after the line holding
    ``marker`` replaced by ``body`` (the fences themselves are kept)."""
    lines = text.split("\n")
    try:
        at = next(i for i, line in enumerate(lines) if marker in line)
        start = next(i for i in range(at + 1, len(lines)) if lines[i].startswith("```"))
        end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("```"))
    except StopIteration:
        raise SystemExit(f"readme_example: no fenced block after {marker!r} in the README") from None
    return "\n".join([*lines[: start + 1], *body, *lines[end:]])


def rewrite(text: str, output: list[str], manifest: dict[str, object]) -> str:
    artifacts = manifest["artifacts"]
    assert isinstance(artifacts, dict)
    shortened = {"artifacts": {"api": artifacts["api"]}, "version": manifest["version"]}
    text = replace_block(text, OUTPUT_MARKER, output)
    return replace_block(text, MANIFEST_MARKER, json.dumps(shortened, indent=2, sort_keys=True).split("\n"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--readme", type=Path, default=REPO / "README.md", help="default: README.md")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the README differs")
    args = parser.parse_args()
    text = args.readme.read_text("utf-8")
    output, manifest = build()
    new = rewrite(text, output, manifest)
    print("\n".join(output))
    if new == text:
        print(f"{args.readme}: up to date")
    elif args.check:
        print(f"{args.readme}: differs from the build; run `make readme-example`")
        raise SystemExit(1)
    else:
        args.readme.write_text(new, "utf-8")
        print(f"{args.readme}: updated")


if __name__ == "__main__":
    main()
