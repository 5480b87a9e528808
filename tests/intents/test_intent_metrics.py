"""Intent metrics, worked out by hand on small cases."""

from __future__ import annotations

import numpy as np
import pytest

from smallbot.errors import ProjectError
from smallbot.intents.evaluate import load_test_split
from smallbot.intents.metrics import confusion_matrix, intent_metrics, threshold_curve


def test_metrics_count_rejected_in_scope_as_wrong_and_score_oos_as_a_class():
    truth = ["a", "a", "b", "b", None, None]
    predicted = ["a", None, "b", "a", None, "b"]
    top = ["a", "a", "b", "a", "b", "b"]
    m = intent_metrics(truth, predicted, top)
    assert m.accuracy == pytest.approx(2 / 4)
    assert m.accuracy_no_reject == pytest.approx(3 / 4)
    assert m.oos_precision == pytest.approx(1 / 2)  # flagged: a's 2nd and the first None
    assert m.oos_recall == pytest.approx(1 / 2)
    rows = {r.intent: r for r in m.rows}
    assert rows["a"].precision == pytest.approx(1 / 2) and rows["a"].recall == pytest.approx(1 / 2)
    assert rows["b"].precision == pytest.approx(1 / 2) and rows["b"].recall == pytest.approx(1 / 2)
    assert m.macro_f1 == pytest.approx(0.5)
    assert ("a", "(out of scope)", 1) in m.confusions and ("(out of scope)", "b", 1) in m.confusions


def test_confusion_matrix_puts_out_of_scope_last():
    matrix = confusion_matrix(["a", "b", None], ["b", "b", None], ["a", "b"])
    assert matrix.tolist() == [[0, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_threshold_curve_trades_accuracy_for_oos_recall():
    correct = np.array([True, True, False, True])
    in_scores = np.array([0.9, 0.8, 0.7, 0.2])
    oos_scores = np.array([0.1, 0.3, 0.75])
    thresholds, accuracy, recall = threshold_curve(correct, in_scores, oos_scores)
    assert np.all(np.diff(accuracy) <= 1e-12) and np.all(np.diff(recall) >= -1e-12)
    assert accuracy[0] == pytest.approx(0.75) and recall[-1] == pytest.approx(1.0)


def test_test_split_file_is_read_and_unknown_intents_are_reported(tmp_path):
    good = tmp_path / "good.yml"
    good.write_text("examples:\n  - {text: hello there, intent: greet}\nout_of_scope:\n  - tell me a joke\n")
    split = load_test_split([good], ["greet", "goodbye"])
    assert split.texts == ("hello there",) and split.labels == ("greet",) and split.out_of_scope == ("tell me a joke",)
    bad = tmp_path / "bad.yml"
    bad.write_text("examples:\n  - {text: hi, intent: nope}\n  - just a string\nextra: 1\n")
    with pytest.raises(ProjectError) as info:
        load_test_split([bad], ["greet"])
    message = str(info.value)
    assert "intent 'nope' is not defined" in message
    assert "{text: ..., intent: ...}" in message
    assert "unknown key 'extra'" in message
