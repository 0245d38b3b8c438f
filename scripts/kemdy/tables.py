"""Reading the workflow's CSV files back: one checked reader, called by the module that owns
each file (docs/contracts.md names them), so a missing, broken or short file always gets
the same clear error naming it and the step to re-run."""

from __future__ import annotations

import pandas as pd

from kemdy.errors import InputError


def read_table(path, columns=(), fix: str = "re-run the step that wrote it",
               **read_csv) -> pd.DataFrame:
    """pd.read_csv(path, **read_csv), with `columns` required."""
    try:
        frame = pd.read_csv(path, **read_csv)
    except FileNotFoundError:
        raise InputError(path, "file not found", fix) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(path, f"unreadable CSV ({err})", fix) from None
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise InputError(path, f"missing column(s) {absent}", fix)
    return frame
