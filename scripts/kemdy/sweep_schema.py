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
                             f"use values {key} accepts", key=where) from None

    return validate
