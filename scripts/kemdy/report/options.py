"""The report steps' repeated VARIANT=VALUE options (--seeds, --selection): one parser, so
every such flag reads and rejects its values the same way."""

from __future__ import annotations

from typing import Callable, TypeVar

from kemdy.errors import InputError

T = TypeVar("T")


def parse_variant_values(items: list[str] | None, flag: str, form: str, example: str,
                         value: Callable[[str], T]) -> dict[str, T]:
    """`flag VARIANT=VALUE` given once per variant -> {variant: value(VALUE)}. An item
    without a variant or a value, or whose value `value` rejects with ValueError, is an
    InputError naming the flag, the `form` it should have and an `example` of it."""
    out = {}
    for item in items or []:
        variant, _, text = item.partition("=")
        try:
            if not variant or not text:
                raise ValueError(item)
            out[variant] = value(text)
        except ValueError:
            raise InputError(flag, f"'{item}' is not {form}", f"pass e.g. {flag} {example}") \
                from None
    return out
