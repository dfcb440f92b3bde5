"""Pacing after lost events: one rescan a second at most, one warning a minute."""

from __future__ import annotations

import pytest

from inosync.daemon.overflow import LOG_SECONDS, RESCAN_MIN_SECONDS, OverflowPacing


@pytest.mark.parametrize(("times", "warned"), [
    ([0.0], [1]),
    ([0.0, 0.1, 0.2], [1, None, None]),
    ([0.0, 0.1, LOG_SECONDS + 0.1], [1, None, 2]),  # the count since the last warning
    ([100.0, 100.0 + LOG_SECONDS], [1, 1]),
])
def test_one_warning_a_minute_with_the_count(times: list[float],
                                             warned: list[int | None]) -> None:
    pacing = OverflowPacing()
    assert [pacing.lost(now) for now in times] == warned
    assert pacing.total == len(times)


def test_a_storm_rescans_at_most_once_a_second() -> None:
    pacing = OverflowPacing()
    pacing.lost(10.0)
    assert pacing.rescan_due(10.0)
    pacing.rescanned(10.0)
    pacing.lost(10.2)  # lost again at once: not before a second has passed
    assert pacing.rescan_at == 10.0 + RESCAN_MIN_SECONDS
    assert not pacing.rescan_due(10.9) and pacing.rescan_due(11.0)
    pacing.lost(10.5)  # one rescan pending covers the next losses
    assert pacing.rescan_at == 10.0 + RESCAN_MIN_SECONDS
