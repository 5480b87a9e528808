"""What `smallbot train` tells the author: what to expect, on what it is based, and the one thing to improve."""

from smallbot.build.pipeline import calibration_advice, describe_calibration
from smallbot.knowledge.base import Bands
from smallbot.knowledge.calibrate import Calibration


def _calibration(answered: float | None, wrong: float | None = 0.0, offtopic: float | None = 0.0,
                 positives: int = 125) -> Calibration:
    return Calibration(Bands(answer=0.72, suggest=0.3), None, answered, wrong, offtopic, positives, 300)


def test_a_plain_faq_list_is_told_the_prior_serves_and_to_add_alternates():
    result = _calibration(None, None, 0.0, positives=0)
    assert "shipped prior" in describe_calibration(result)
    assert "alternates" in calibration_advice(result, target=0.02)


def test_answered_off_topic_messages_come_first_in_the_advice():
    advice = calibration_advice(_calibration(0.9, 0.05, 0.03), target=0.02)
    assert advice is not None and "out_of_scope" in advice and "3%" in advice


def test_too_many_wrong_answers_point_at_alternates_that_separate_entries():
    advice = calibration_advice(_calibration(0.9, 0.05, 0.0), target=0.02)
    assert advice is not None and "tell neighbouring entries apart" in advice


def test_a_bot_meeting_its_target_gets_no_advice_and_reads_its_expected_rates():
    result = _calibration(0.88, 0.01, 0.0)
    assert calibration_advice(result, target=0.02) is None
    line = describe_calibration(result)
    assert "125 held-out alternates 88% answered directly" in line and "1.0% of answers wrong" in line
    assert "0.0% of 300 off-topic messages answered" in line
