"""``python -m lambdapack`` and the ``lambdapack`` command's entry point.

Kept tiny: it installs the handlers that turn SIGINT and SIGTERM into
:class:`~lambdapack.errors.Interrupted` before anything else loads, so an
interrupt at any instant ends the same way: tools stopped, one line, exit
code 130 (SIGTERM: 143).
"""

from __future__ import annotations

import os
import signal
import sys

from lambdapack.errors import Interrupted


def _raise(signum: int, _frame: object) -> None:
    raise Interrupted(signum)


def main() -> None:
    signal.signal(signal.SIGINT, _raise)
    signal.signal(signal.SIGTERM, _raise)
    try:
        from lambdapack.cli import main as cli

        cli()
    except Interrupted as exc:  # before or after the command's own handling (click's parsing …)
        sys.stderr.write("lambdapack: interrupted; nothing was written\n")
        sys.stderr.flush()
        os._exit(exc.exit_code)


if __name__ == "__main__":
    main()
