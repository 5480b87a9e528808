"""`smallbot eval DIR`: measure the bot's models and write an HTML report to DIR/.smallbot/eval/report.html.

FAQ retrieval is scored on held-out phrasings (`smallbot.knowledge.evaluation`) with the trained
confidence. Intents are scored on a test split (`DIR/tests/*.yml`, or `--test FILE`; format in
`smallbot.intents.evaluate`) with the trained model, or by k-fold cross-validation (`--cv K`, the
default when the bot has no test split). The report is a list of sections (title, tables, figures);
a component adds its own by appending a builder to SECTIONS.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from smallbot.cli import say
from smallbot.errors import ConfigError
from smallbot.analytics.eval_report import Figure, Section, Table, write_report

if TYPE_CHECKING:
    from smallbot.encoding.encoder import Encoder
    from smallbot.encoding.torchscript import ExportedEncoder

SectionBuilder = Callable[["EvalContext"], "Section | None"]
CONFUSION_NAMED_TICKS = 40  # above this many classes the matrix PNG numbers its axes (smallbot.intents.evaluate)


class EvalContext:
    """What a section builder gets: the project, the parsed options, an encoder and the output directory."""

    def __init__(self, project, args: argparse.Namespace, out_dir: Path):
        self.project = project
        self.args = args
        self.out_dir = out_dir
        self.summary: dict = {}
        self._encoder: Encoder | ExportedEncoder | None = None

    def encode(self, texts):
        """Embed with the build's serving encoder (fine-tuned when the bot is), as the head was fitted on it."""
        if self._encoder is None:
            from smallbot.encoding.serving import serving_encoder

            self._encoder = serving_encoder(self.project)
        return self._encoder.encode(list(texts))


def register(sub) -> None:
    parser = sub.add_parser("eval", help="measure the bot and write an HTML report", description=__doc__)
    parser.add_argument("dir", type=Path, help="bot project directory")
    parser.add_argument(
        "--test",
        type=Path,
        action="append",
        default=None,
        help="test split YAML ({examples: [{text, intent}], out_of_scope: [...]}); repeatable",
    )
    parser.add_argument(
        "--cv",
        type=int,
        default=None,
        metavar="K",
        help="k-fold cross-validation on the intents' own examples instead of a test split",
    )
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON on stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from smallbot.project.loader import load_project

    project = load_project(args.dir)
    out_dir = project.build_dir / "eval"
    out_dir.mkdir(parents=True, exist_ok=True)
    context = EvalContext(project, args, out_dir)
    sections = [section for build in SECTIONS if (section := build(context)) is not None]
    if not sections:
        raise ConfigError(f"{project.root}: nothing to evaluate (no intents with examples)")
    path = write_report(out_dir, f"{project.config.name} evaluation", sections)
    (out_dir / "metrics.json").write_text(json.dumps(context.summary, indent=2))
    if args.json:
        print(json.dumps(context.summary, indent=2))
    say(f"report: {path}")
    return 0


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def intents_section(context: EvalContext) -> Section | None:
    """Accuracy, macro-F1, out-of-scope P/R/F1, per-intent table, worst confusions and two figures."""
    from smallbot.intents.evaluate import (
        cross_validate,
        evaluate_classifier,
        load_test_split,
        plot_confusion,
        plot_threshold_curve,
        threshold_curve_note,
    )

    project, args = context.project, context.args
    dataset = project.intents
    if len(dataset.intents) < 2:
        return None
    test_files = list(args.test or sorted((project.root / "tests").glob("*.y*ml")))
    if test_files and args.cv is None:
        from smallbot.build.pipeline import is_up_to_date, train_project
        from smallbot.intents.classifier import LinearIntentClassifier

        split = load_test_split(test_files, dataset.names)
        for warning in split.warnings:
            say(f"warning: {warning}")
        if not is_up_to_date(project):
            say("the build is missing or stale: training first")
            train_project(project, report=say)
        classifier = LinearIntentClassifier.load(project.build_dir / "intents" / "classifier")
        say(f"intents: scoring {len(split.texts)} test messages and {len(split.out_of_scope)} out-of-scope ones")
        evaluation = evaluate_classifier(classifier, split, context.encode)
    else:
        folds = args.cv or 5
        texts, labels = dataset.texts_and_labels()
        if not test_files and args.cv is None:
            say(f"no tests/*.yml and no --test: using {folds}-fold cross-validation")
        say(f"intents: {folds}-fold cross-validation over {len(texts)} examples")
        if project.config.intents.finetune_steps > 0:
            say(
                "note: the serving encoder was tuned on every intent example, so cross-validated figures are "
                "optimistic; a test split (tests/*.yml) measures the tuned bot fairly"
            )
        evaluation = cross_validate(
            texts, labels, dataset.out_of_scope, context.encode, folds=folds, seed=project.config.seed
        )
    m = evaluation.metrics
    confusion_png = plot_confusion(evaluation, context.out_dir / "intents_confusion.png")
    curve_png = plot_threshold_curve(evaluation, context.out_dir / "intents_threshold.png")
    context.summary["intents"] = {
        "mode": evaluation.mode,
        **m.summary(),
        "per_intent": {
            r.intent: {"support": r.support, "precision": r.precision, "recall": r.recall, "f1": r.f1} for r in m.rows
        },
        "confusions": [list(c) for c in m.confusions],
    }
    summary = Table(
        "Summary",
        ("metric", "value"),
        (
            ("evaluated on", evaluation.mode),
            ("in-scope messages", str(m.in_scope)),
            ("out-of-scope messages", str(m.out_of_scope)),
            ("accuracy (rejects count as wrong)", _pct(m.accuracy)),
            ("accuracy ignoring the out-of-scope flag", _pct(m.accuracy_no_reject)),
            ("macro-F1", f"{m.macro_f1:.3f}"),
            ("out-of-scope precision", _pct(m.oos_precision)),
            ("out-of-scope recall", _pct(m.oos_recall)),
            ("out-of-scope F1", f"{m.oos_f1:.3f}"),
        ),
    )
    per_intent = Table(
        "Per intent",
        ("intent", "support", "precision", "recall", "F1"),
        tuple(
            (r.intent, str(r.support), _pct(r.precision), _pct(r.recall), f"{r.f1:.3f}")
            for r in sorted(m.rows, key=lambda r: (r.f1, r.intent))
        ),
    )
    confusions = Table(
        "Worst confusions",
        ("true", "predicted", "count"),
        tuple((a, b, str(n)) for a, b, n in m.confusions) or (("(none)", "", "0"),),
    )
    axes = confusion_axes_table(evaluation.labels)
    tables = (summary, per_intent, confusions) + ((axes,) if axes else ())
    matrix_caption = "rows are true intents, last one out of scope" + (
        "; axis numbers are the rows of the 'Confusion matrix axes' table" if axes else ""
    )
    note = threshold_curve_note(evaluation)
    return Section(
        "Intents",
        "Out of scope counts as its own class; a rejected in-scope message counts as wrong.",
        tables,
        (
            Figure("Confusion matrix", confusion_png.name, matrix_caption),
            Figure(
                "Threshold trade-off",
                curve_png.name,
                note or "in-scope accuracy against out-of-scope recall; the dot is the stored threshold",
            ),
        ),
    )


def confusion_axes_table(labels) -> Table | None:
    """Above CONFUSION_NAMED_TICKS classes the matrix PNG numbers its axes: this table names each number."""
    names = [*labels, "(out of scope)"]
    if len(names) <= CONFUSION_NAMED_TICKS:
        return None
    return Table("Confusion matrix axes", ("number", "intent"), tuple((str(i), name) for i, name in enumerate(names)))


def knowledge_section(context: EvalContext) -> Section | None:
    """Held-out FAQ retrieval: hit@1/5, MRR and the answered-vs-wrong curve of the calibrated confidence."""
    from smallbot.runtime.bot import Bot
    from smallbot.build.pipeline import negative_examples
    from smallbot.knowledge.evaluation import evaluate_knowledge

    project = context.project
    if not list(project.knowledge):
        return None
    bot = Bot.load(project, train=True, report=say, with_store=False)
    try:
        negatives = negative_examples(project)
        say(f"knowledge: held-out phrasings of {len(bot.knowledge)} entries and {len(negatives)} off-topic examples")
        ev = evaluate_knowledge(bot.knowledge, bot.encoder.encode, context.out_dir, negatives=negatives)
    finally:
        bot.close()
    context.summary["knowledge"] = ev.as_dict()
    answer = ev.answer_threshold
    table = Table(
        "Summary",
        ("metric", "value"),
        (
            ("held-out phrasings / off-topic messages", f"{ev.queries} / {ev.negatives}"),
            ("hit@1 / hit@5 / MRR", f"{ev.hit_at_1:.3f} / {ev.hit_at_5:.3f} / {ev.mrr:.3f}"),
            ("answer threshold (confidence)", "never answers" if answer > 1 else f"{answer:.3f}"),
            ("held-out phrasings answered", _pct(ev.answered_rate)),
            ("wrong answers among answered", _pct(ev.wrong_rate)),
            ("off-topic messages answered", _pct(ev.negatives_answered)),
        ),
    )
    figures = (
        (
            Figure(
                "Answered vs wrong",
                ev.figure.name,
                "share of held-out phrasings answered against wrong answers among answered, as the answer "
                "threshold on the confidence moves; the dot is the stored threshold",
            ),
        )
        if ev.figure
        else ()
    )
    return Section(
        "FAQ retrieval",
        "Each phrasing is searched with its own row left out of the index; off-topic "
        "messages (small talk, out of scope) count as wrong whenever answered. The confidence model was "
        "fitted on these same held-out phrasings, so the rates are slightly optimistic.",
        (table,),
        figures,
    )


SECTIONS: list[SectionBuilder] = [intents_section, knowledge_section]
