"""Backoff: capped doubling with jitter, logged once per kind of failure."""

from __future__ import annotations

import pytest

from inosync.node.backoff import MAX, Backoff, delay
from inosync.rsync.outcomes import Outcome


@pytest.mark.parametrize(("failures", "jitter", "seconds"), [
    (1, 1.0, 1.0), (2, 1.0, 2.0), (3, 1.0, 4.0), (6, 1.0, 32.0), (7, 1.0, MAX),
    (50, 1.0, MAX), (1, 0.8, 0.8), (7, 1.2, MAX * 1.2),
])
def test_delay_doubles_up_to_the_cap(failures: int, jitter: float, seconds: float) -> None:
    assert delay(failures, jitter) == pytest.approx(seconds)


@pytest.mark.parametrize(("outcomes", "news"), [
    ([Outcome.TRANSIENT], [True]),
    ([Outcome.TRANSIENT, Outcome.TRANSIENT, Outcome.TRANSIENT], [True, False, False]),
    ([Outcome.TRANSIENT, Outcome.ERROR, Outcome.ERROR], [True, True, False]),
    ([Outcome.ERROR, Outcome.TRANSIENT, Outcome.ERROR], [True, True, True]),
])
def test_a_failure_is_news_once_per_kind(outcomes: list[Outcome], news: list[bool]) -> None:
    backoff = Backoff()
    said = [backoff.failed(100.0, 5000.0 + i, outcome, lambda low, high: 1.0)
            for i, outcome in enumerate(outcomes)]
    assert said == news
    assert backoff.down_since == 5000.0  # the first failure's time, kept
    assert backoff.retry_at == 100.0 + delay(len(outcomes), 1.0)


def test_success_starts_over() -> None:
    backoff = Backoff()
    for _ in range(3):
        backoff.failed(0.0, 0.0, Outcome.TRANSIENT, lambda low, high: high)
    backoff.succeeded()
    assert (backoff.failures, backoff.down_since) == (0, None)
    assert backoff.failed(10.0, 20.0, Outcome.TRANSIENT, lambda low, high: low) is True
    assert backoff.retry_at == pytest.approx(10.0 + 0.8)
