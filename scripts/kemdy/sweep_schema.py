"""A swept value checked against the config schema of its training key, as the value set
directly would be (Snakemake's validate sees only the list). Only the workflow's DAG step
and the tests import this: the step scripts' conda envs need no jsonschema.
"""

from __future__ import annotations

import jsonschema
import yaml

from kemdy.errors import InputError


def schema_check(schema_path):
    """validate(where, key, value) for check_sweep: a swept value must pass the schema of
    its training key, as a value set directly would."""
    with open(schema_path, encoding="utf-8") as handle:
        schema = yaml.safe_load(handle)
    training = schema["$defs"]["training"]["properties"]

    def validate(where: str, key: str, value) -> None:
        sub = {"$defs": schema["$defs"], **training[key]}
        try:
            jsonschema.validate(value, sub)
        except jsonschema.ValidationError as err:
            raise InputError("config", f"{where}: {value!r} ({err.message})",
                             text_number_fix(value) or f"use values {key} accepts",
                             key=where) from None

    return validate


def text_number_fix(value) -> str | None:
    """How to write a number that YAML read as text: PyYAML (YAML 1.1) takes 1e-3 for a
    string, since its exponent form needs a dot (1.0e-3)."""
    if not isinstance(value, str):
        return None
    try:
        float(value)
    except ValueError:
        return None
    mantissa, _, exponent = value.lower().partition("e")
    dotted = f"{mantissa}.0e{exponent}" if exponent and "." not in mantissa else value
    return (f"write it as {dotted}, unquoted: YAML reads a number in exponent form without "
            "a dot (1e-3) as text")
