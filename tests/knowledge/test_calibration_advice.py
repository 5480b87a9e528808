"""What `smallbot train` tells the author when the calibrated bands hold the bot back."""

from smallbot.build import calibration_advice
from smallbot.knowledge.base import Bands
from smallbot.knowledge.calibrate import Calibration


def _calibration(answered: float, bounded: bool = True, positives: int = 125) -> Calibration:
    return Calibration(Bands(), None, answered, 0.0, 0.0, bounded, positives, 100, [])


def test_a_tuned_bot_that_answers_nothing_is_pointed_at_cross_validation():
    advice = calibration_advice(_calibration(0.0), tuned=True, calibration="held_out")
    assert len(advice) == 1
    assert "every FAQ reply will be" in advice[0] and "knowledge.calibration: cross_validation" in advice[0]


def test_an_untuned_or_cross_validated_bot_that_answers_nothing_is_told_to_add_alternates():
    for tuned, calibration in ((False, "held_out"), (True, "cross_validation")):
        advice = calibration_advice(_calibration(0.0), tuned=tuned, calibration=calibration)
        assert len(advice) == 1 and "add alternates" in advice[0] and "cross_validation" not in advice[0]


def test_a_bot_too_small_to_bound_is_told_so_and_a_healthy_one_hears_nothing():
    small = calibration_advice(_calibration(0.9, bounded=False, positives=12), tuned=False, calibration="held_out")
    assert len(small) == 1 and "too few to bound" in small[0] and "112 held-out messages" in small[0]
    assert calibration_advice(_calibration(0.9), tuned=True, calibration="held_out") == []
    assert calibration_advice(_calibration(0.0, positives=0), tuned=False, calibration="held_out") == []
