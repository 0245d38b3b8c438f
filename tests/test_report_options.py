"""The report steps' VARIANT=VALUE options: one parser behind --seeds and --selection."""

from pathlib import Path

import pytest

from kemdy.errors import InputError
from kemdy.report.options import parse_variant_values
from kemdy.report.seeds import parse_selections
from kemdy.report.summary import parse_seeds


def test_each_item_gives_its_variant_a_converted_value():
    assert parse_variant_values(None, "--x", "VARIANT=N", "v=1", int) == {}
    assert parse_variant_values(["a=1", "b=2"], "--x", "VARIANT=N", "v=1", int) == {"a": 1, "b": 2}
    # only the first '=' splits: a value may hold one
    assert parse_variant_values(["a=p=q"], "--x", "VARIANT=V", "v=w", str) == {"a": "p=q"}


def test_the_callers_read_their_values():
    assert parse_seeds(["text_ce=1, 2,3", "mm=4"]) == {"text_ce": [1, 2, 3], "mm": [4]}
    assert parse_selections(["v=results/sweeps/v/selection.csv"]) == {
        "v": Path("results/sweeps/v/selection.csv")}


# Before the shared parser --seeds took 'text_ce', '=1,2', 'text_ce=' and 'text_ce=,' silently
# (a variant with no seeds, read as one run of n_seeds 0, or a variant named '').
@pytest.mark.parametrize("item", ["text_ce", "=1,2", "text_ce=", "text_ce=,", "text_ce=1,x"])
def test_a_bad_seeds_item_names_the_flag_and_its_form(item):
    with pytest.raises(InputError) as err:
        parse_seeds([item])
    assert str(err.value) == (f"--seeds: '{item}' is not VARIANT=S1,S2,.... "
                              "Fix: pass e.g. --seeds text_ce=1,2,3")


@pytest.mark.parametrize("item", ["text_lr", "=sel.csv", "text_lr="])
def test_a_bad_selection_item_names_the_flag_and_its_form(item):
    with pytest.raises(InputError) as err:
        parse_selections([item])
    assert str(err.value) == (f"--selection: '{item}' is not VARIANT=CSV. Fix: pass e.g. "
                              "--selection text_lr=results/sweeps/text_lr/selection.csv")
