"""Reading the workflow's CSV and JSON files back: one checked reader of each kind, called
by the module that owns each file (docs/contracts.md names them), so a missing, broken or
short file always gets the same clear error naming it and the step to re-run."""

from __future__ import annotations

import json

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


def read_json(path, fix: str = "re-run the step that wrote it"):
    """json.load of a file the workflow wrote."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise InputError(path, "file not found", fix) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(path, f"not valid JSON ({err})", fix) from None
