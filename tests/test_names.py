"""The one parser of comma-separated names: split, refuse repeats and typos, suggest."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import kpit
from kpit.names import close_names, did_you_mean, parse_names, split_names

# Derandomized and without an example database: the same examples on every run, no flakes.
PROPERTY = settings(derandomize=True, database=None, max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])  # fmt: skip

NAME = st.text(st.characters(codec="ascii", categories=("L", "N"), include_characters="_-"),
               min_size=1, max_size=12)  # fmt: skip
"""A name as kpit's tasks, recipes and plugins have them: no comma, no blank at either end."""

KNOWN = st.lists(NAME, min_size=1, max_size=8, unique=True)


@PROPERTY
@given(KNOWN, st.data())
def test_distinct_known_names_joined_with_commas_read_back_in_order(
    known: list[str], data: st.DataObject
) -> None:
    names = data.draw(st.lists(st.sampled_from(known), min_size=1, unique=True))
    spaces = data.draw(st.lists(st.sampled_from(["", " ", "  "]), min_size=2 * len(names),
                                max_size=2 * len(names)))  # fmt: skip
    joined = ",".join(f"{spaces[2 * i]}{name}{spaces[2 * i + 1]}" for i, name in enumerate(names))
    assert parse_names(joined, known=known) == names
    assert parse_names(names, known=known) == names  # a list reads the same


@PROPERTY
@given(KNOWN, st.data())
def test_a_name_given_twice_is_always_refused(known: list[str], data: st.DataObject) -> None:
    repeated = data.draw(st.sampled_from(known))
    names = data.draw(st.permutations([*known, repeated]))
    with pytest.raises(kpit.ConfigError, match="a task is named twice") as info:
        parse_names(", ".join(names), known=known)
    assert info.value.field == "tasks"


@PROPERTY
@given(KNOWN, st.data())
def test_a_typo_of_a_known_name_is_refused_with_a_suggestion(
    known: list[str], data: st.DataObject
) -> None:
    meant = data.draw(st.sampled_from(known))
    typo = meant + data.draw(st.sampled_from("xyz"))
    assume(typo not in known)
    with pytest.raises(kpit.ConfigError, match="did you mean '") as info:
        parse_names(f"{known[0]}, {typo}", known=known)
    assert f"no task {typo!r}" in str(info.value)


def test_split_names_strips_blanks_and_keeps_the_order() -> None:
    assert split_names(" b, a ,, c ,") == ["b", "a", "c"]
    assert split_names(["b ", "", " a"]) == ["b", "a"]
    assert split_names("") == [] and split_names([]) == []


@pytest.mark.parametrize("value", [5, [1, "a"], b"a,b", None])
def test_anything_but_strings_is_refused(value: object) -> None:
    with pytest.raises(kpit.ConfigError, match="expected task names") as info:
        parse_names(value)  # type: ignore[arg-type]
    assert info.value.field == "tasks"


def test_no_name_is_refused_naming_what_and_the_field() -> None:
    with pytest.raises(kpit.ConfigError, match="no recipe given") as info:
        parse_names(" , ", what="recipe", field="recipe")
    assert info.value.field == "recipe"


def test_an_unknown_name_lists_the_known_ones_and_names_the_file() -> None:
    with pytest.raises(kpit.ConfigError) as info:
        parse_names("convo", known=["detail", "conversation"], scope="this run",
                    file="run", cutoff=0.4)  # fmt: skip
    assert info.value.message == ("no task 'convo' in this run; did you mean 'conversation'? "
                                  "(its tasks: conversation, detail)")  # fmt: skip
    assert info.value.file == "run"
    with pytest.raises(kpit.ConfigError, match=r"no task 'zzz' \(known tasks: detail\)$"):
        parse_names("zzz", known=["detail"])


def test_a_repeat_passes_where_names_only_select() -> None:
    assert parse_names("detail,detail", known=["detail"], unique=False) == ["detail", "detail"]


def test_did_you_mean_and_close_names() -> None:
    assert close_names("detal", ["conversation", "detail"]) == ["detail"]
    assert did_you_mean("detal", ["conversation", "detail"]) == "; did you mean 'detail'?"
    assert did_you_mean("cont", ["count", "contrast"], n=2, quote=False).startswith(
        "; did you mean co"
    )
    assert " or " in did_you_mean("cont", ["count", "conf"], n=2)
    assert did_you_mean("zzz", ["detail"]) == ""
