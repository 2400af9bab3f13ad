"""Simulated CI machines for the remote cache tests: each is a copy of a
project in a directory of its own with a local lambdapack cache of its own;
what they share is a bucket. :meth:`Machine.traced` runs a build under an
audit hook that records every process it starts (to prove that a build
resolved and installed nothing)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from conftest import _INDEX_VARIABLES, cli, write_tree
from s3_server import UNSET_AWS_VARIABLES

#: Not inherited by the machines: this machine's index settings (part of a lock's
#: key) and AWS settings (only the test server's apply).
UNSET = (*_INDEX_VARIABLES, *UNSET_AWS_VARIABLES)
#: Records the processes a lambdapack command starts (argv[1]: the log), then runs it.
TRACED = """
import json, sys
log = open(sys.argv[1], "a", encoding="utf-8")
def hook(event, args):
    if event in ("subprocess.Popen", "os.posix_spawn", "os.exec", "os.spawn"):
        log.write(json.dumps([event, str(args[0]), [str(a) for a in (args[1] or [])]]) + "\\n")
        log.flush()
sys.addaudithook(hook)
from lambdapack.__main__ import main
sys.argv = ["lambdapack", *sys.argv[2:]]
main()
"""


class Machine:
    """A machine: the project (``files``, or a copy of the directory ``project``)
    under ``base/name/project`` and its cache under ``base/name/cache``."""

    def __init__(
        self,
        base: Path,
        name: str,
        env: Mapping[str, str],
        *,
        files: Mapping[str, str | bytes] | None = None,
        project: Path | None = None,
    ) -> None:
        self.root = base / name / "project"
        if project is not None:
            shutil.copytree(project, self.root, ignore=shutil.ignore_patterns("dist", "node_modules"))
        write_tree(self.root, files or {})
        self.cache = base / name / "cache"
        self.env = {**env, "LAMBDAPACK_CACHE_DIR": str(self.cache)}

    def build(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """``lambdapack build ARGS`` in this process (boto3 is imported once for the tests)."""
        return cli("build", *args, cwd=self.root, env={**dict.fromkeys(UNSET), **self.env, **(env or {})})

    def traced(
        self, *args: str, env: Mapping[str, str] | None = None
    ) -> tuple[subprocess.CompletedProcess[str], list[str]]:
        """``lambdapack build ARGS`` in a process of its own, and the command
        line of every process it started."""
        log = self.root.parent / "processes.jsonl"
        log.unlink(missing_ok=True)
        inherited = {k: v for k, v in os.environ.items() if k not in UNSET}
        done = subprocess.run(
            [sys.executable, "-c", TRACED, str(log), "build", *args],
            cwd=self.root,
            env={**inherited, **self.env, **(env or {})},
            capture_output=True,
            text=True,
            check=False,
        )
        lines = log.read_text("utf-8").splitlines() if log.exists() else []
        return done, [" ".join(json.loads(line)[2]) for line in lines]

    def zip(self, name: str) -> bytes:
        return (self.root / "dist" / f"{name}.zip").read_bytes()

    def figures(self) -> dict[str, dict[str, int]]:
        """``cache info --json``'s figures of the remote caches this machine used."""
        done = cli("cache", "info", "--json", cwd=self.root, env={**dict.fromkeys(UNSET), **self.env})
        assert done.returncode == 0, done.stderr
        figures: dict[str, dict[str, int]] = json.loads(done.stdout)["remote"]
        return figures


def remote_warnings(stderr: str) -> list[str]:
    """The remote cache's warnings in a command's stderr."""
    return [line for line in stderr.splitlines() if line.startswith("lambdapack: warning: remote cache")]


def package_managers(commands: list[str]) -> list[str]:
    """The commands that ran uv or npm (resolving or installing)."""
    return [c for c in commands if any(Path(word).name in ("uv", "npm", "npm-cli.js") for word in c.split())]
