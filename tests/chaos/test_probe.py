"""How an experiment reads its probe: errors in a window, and when the answers turned good."""

from __future__ import annotations

from mercato.chaos.experiment import Probe


def probe(*answers: tuple[float, int]) -> Probe:
    return Probe(answers=list(answers))


def test_recovery_is_the_first_success_after_the_last_error():
    seen = probe((9.0, 200), (10.5, 503), (11.0, 0), (11.5, 200), (12.0, 503), (12.5, 200))

    assert seen.recovered_at(10.0) == 12.5
    assert seen.errors_between(10.0, 12.0) == 2
    assert seen.errors_between(12.0, 13.0) == 1


def test_a_probe_that_never_saw_an_error_recovered_at_once():
    assert probe((10.2, 200), (10.7, 200)).recovered_at(10.0) == 10.2


def test_a_probe_still_failing_at_the_end_never_recovered():
    assert probe((10.2, 200), (10.7, 503)).recovered_at(10.0) is None


def test_a_hang_shows_as_the_slowest_wait_of_the_window():
    seen = Probe(waits=[(9.0, 0.1), (10.5, 14.9), (25.4, 0.2)])

    assert seen.slowest_between(10.0, 20.0) == 14.9
