import pytest

from healthgauge.testing import FakeClock


def test_fake_clock_moves_only_forward() -> None:
    clock = FakeClock(10)
    assert clock() == 10.0
    assert clock.advance(0.5) == 10.5
    assert clock.set(12) == 12.0
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="cannot go back"):
        clock.set(11)
    assert clock.now == 12.0
