"""The cost bound: what a run's replies cost at most, charged for requests of unknown cost."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kpit.generators.base import CostBound

replies = st.lists(st.tuples(st.integers(1, 10_000), st.integers(1, 10_000),
                             st.integers(0, 4_000)), min_size=1, max_size=20)  # fmt: skip


def test_before_any_reply_the_reserve_is_charged() -> None:
    assert CostBound().likely(900, 4000, 4096) == (4000, 4096)


def test_a_learned_bound_charges_the_most_seen_within_the_reserve() -> None:
    bound = CostBound().learn(1000, 1100, 300).learn(1000, 1000, 500)
    assert bound.likely(2000, 8000, 4096) == (2200, 500)  # ratio 1.1, longest completion
    assert bound.likely(2000, 2100, 400) == (2100, 400)  # never more than the reserve


@given(replies, st.integers(1, 10_000))
def test_no_reply_seen_costs_more_than_the_bound_says(
    seen: list[tuple[int, int, int]], reserve_factor: int
) -> None:
    bound = CostBound()
    for counted, billed, completion in seen:
        bound = bound.learn(counted, billed, completion)
    for counted, billed, completion in seen:  # each of them, sent again, fits its bound
        prompt, most_completion = bound.likely(counted, billed * reserve_factor, 4_000)
        assert prompt >= billed and most_completion >= completion


@given(replies, replies)
def test_merging_learns_what_both_learned(a: list[tuple[int, int, int]],
                                          b: list[tuple[int, int, int]]) -> None:  # fmt: skip
    left, right, both = CostBound(), CostBound(), CostBound()
    for item in a:
        left, both = left.learn(*item), both.learn(*item)
    for item in b:
        right, both = right.learn(*item), both.learn(*item)
    assert left.merge(right) == both
    assert CostBound.from_dict(both.to_dict()).likely(500, 10**6, 10**6) == both.likely(
        500, 10**6, 10**6
    )


def test_an_unreadable_bound_in_a_manifest_is_no_bound() -> None:
    for data in (None, "x", {"prompt_ratio": -1, "completion_tokens": 1, "replies": 1},
                 {"prompt_ratio": True, "completion_tokens": 1, "replies": 1}, {}):  # fmt: skip
        assert CostBound.from_dict(data) == CostBound()
