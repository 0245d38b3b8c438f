"""One error type for bad input, and the CLI wrapper that turns it into a clear exit."""

from __future__ import annotations

import sys
from typing import Callable


class InputError(Exception):
    """Bad input: says which file (and row or key), what is wrong, and what to do."""

    def __init__(self, path, problem: str, fix: str, row: int | None = None, key: str | None = None):
        self.path, self.problem, self.fix, self.row, self.key = str(path), problem, fix, row, key
        where = self.path
        if row is not None:
            where += f", row {row}"
        if key is not None:
            where += f", key '{key}'"
        super().__init__(f"{where}: {problem}. Fix: {fix}")


def run_cli(main: Callable[[list[str] | None], None], argv: list[str] | None = None) -> None:
    """Run a script's main(); an InputError prints one ERROR line and exits with status 2."""
    try:
        main(argv)
    except InputError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        sys.exit(2)
