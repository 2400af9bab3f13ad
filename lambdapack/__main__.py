"""``python -m lambdapack`` and the ``lambdapack`` command's entry point.

Kept tiny: an interrupt while the CLI's modules load is reported like one
during a build (exit code 130), not as a traceback.
"""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from lambdapack.cli import main as cli
    except KeyboardInterrupt:
        sys.stderr.write("lambdapack: interrupted; nothing was written\n")
        sys.exit(130)
    cli()


if __name__ == "__main__":
    main()
