"""`smallbot train`: turn a bot project into `.smallbot/`, rebuilding only the parts whose inputs changed.

The manifest records a hash of each component's inputs; a component is retrained when its hash
differs, and each is written to a temporary directory first so a failed run leaves the last good
build in place.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from smallbot import __version__
from smallbot.encoding.encoder import Encoder
from smallbot.encoding.serving import TUNED_ENCODER
from smallbot.encoding.onnx_encoder import ONNX_DIR
from smallbot.encoding.torchscript import EXPORT_DIR
from smallbot.intents.classifier import FORMAT_VERSION as INTENT_MODEL_FORMAT
from smallbot.errors import ArtifactError, TrainingError
from smallbot.project.loader import Project
from smallbot.encoding.quantize import quantized_encoder
from smallbot.types import Route

if TYPE_CHECKING:
    from smallbot.intents.endtoend import EndToEndReport
    from smallbot.knowledge.calibrate import Calibration
    from smallbot.knowledge.finetune import FinetuneReport

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT_VERSION = 2  # 2: the FAQ confidence starts from the shipped prior; older builds retrain
INTENTS_FORMAT = INTENT_MODEL_FORMAT  # a new intent model format retrains old builds
# knowledge first: it may fine-tune the shared encoder, and the intent head must fit the tuned embeddings
COMPONENTS = ("knowledge", "intents")
EXPORT_FORMAT = 2  # 2: ONNX for serving (1 was TorchScript only); a change re-exports old builds
CHECKED_PHRASINGS = 32  # the bot's own phrasings checked, besides the fixed messages, when exporting

Report = Callable[[str], None]


@dataclass(frozen=True)
class BuildResult:
    """What `train` did: which components it rebuilt, which were up to date, and their metrics."""

    build_dir: Path
    trained: tuple[str, ...]
    skipped: tuple[str, ...]
    seconds: float
    metrics: dict = field(default_factory=dict)
    exported: bool = False  # the serving encoder was (re-)exported


def tunes_encoder(project: Project) -> bool:
    """Whether `smallbot train` fine-tunes THE encoder (for FAQ retrieval, intents, or both)."""
    cfg = project.config
    return cfg.knowledge.finetune_steps > 0 or cfg.intents.finetune_steps > 0


def _digest(*parts: object) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()


def input_hashes(project: Project) -> dict[str, str]:
    """One hash per component over exactly the inputs that component is trained from."""
    cfg = project.config
    files = lambda paths: [(p.relative_to(project.root).as_posix(), p.read_bytes()) for p in paths]  # noqa: E731
    flat = lambda pairs: [x for pair in pairs for x in (pair[0], pair[1])]  # noqa: E731
    from smallbot.knowledge.base import FORMAT_VERSION as KNOWLEDGE_FORMAT  # a new artifact format retrains old builds

    # FAQ bands are calibrated against the small-talk and out-of-scope examples, so those feed in too
    # (but not response templates or faq-route examples: editing those retrains only the intent model).
    # With intents.finetune_steps the encoder also learns from the intent examples, so they feed in too.
    intent_tuning = (
        (dataclasses.asdict(cfg.intents), project.intents.texts_and_labels()) if cfg.intents.finetune_steps > 0 else ""
    )
    # models.quantize changes the embeddings the index, the calibration and the intent head are fitted on
    # (a hash part only when set, so builds made before the setting existed stay up to date)
    quantize = [cfg.models.quantize] if cfg.models.quantize != "none" else []
    # likewise knowledge.calibration enters only when it can change the build and is not what builds made
    # before the setting existed used (held_out), so those stay up to date and untuned bots never rebuild for it
    knowledge_settings = dataclasses.asdict(cfg.knowledge)
    if knowledge_settings["calibration"] == "held_out" or cfg.knowledge.finetune_steps == 0:
        del knowledge_settings["calibration"]
    knowledge = _digest(
        FORMAT_VERSION,
        KNOWLEDGE_FORMAT,
        cfg.models.encoder,
        cfg.seed,
        *quantize,
        cfg.thresholds.target_wrong_answer_rate,
        knowledge_settings,
        negative_examples(project),
        *flat(files(project.knowledge_files)),
        intent_tuning,
    )
    # FAQ phrasings teach the classifier what a knowledge question looks like (not the answers).
    intents = _digest(
        FORMAT_VERSION,
        INTENTS_FORMAT,
        cfg.models.encoder,
        cfg.seed,
        *quantize,
        cfg.thresholds.intent,
        *flat(files(project.intent_files)),
        faq_examples(project),
        # a fine-tuned encoder is trained from the knowledge inputs, and intents embed with it
        knowledge if tunes_encoder(project) else "",
    )
    return {"intents": intents, "knowledge": knowledge}


def read_manifest(build_dir: Path) -> dict:
    path = build_dir / MANIFEST
    if not path.exists():
        return {}
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path} is corrupt ({exc}): run `smallbot train --force`") from exc
    return manifest if manifest.get("format_version") == FORMAT_VERSION else {}


def is_up_to_date(project: Project) -> bool:
    manifest = read_manifest(project.build_dir)
    hashes = input_hashes(project)
    # a build whose serving export is missing, failed or stale is not ready to serve
    components = all(manifest.get("components", {}).get(c, {}).get("inputs") == hashes[c] for c in COMPONENTS)
    export = manifest.get("export", {}).get("inputs") == export_inputs(project, hashes)
    return components and export and _export_present(project, manifest["export"].get("kind"))


def negative_examples(project: Project) -> list[str]:
    """Messages that must never get an FAQ answer: out-of-scope and respond/handoff intent examples."""
    texts = list(project.intents.out_of_scope)
    for intent in project.intents.intents:
        if intent.route is not Route.FAQ:
            texts.extend(intent.examples)
    return texts


def train_project(
    project: Project, *, force: bool = False, report: Report | None = None, encoder: Encoder | None = None
) -> BuildResult:
    """Build what changed; `force` rebuilds everything."""
    say = report or (lambda text: log.info(text))
    started = time.perf_counter()
    build_dir = project.build_dir
    build_dir.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(build_dir)
    components = dict(manifest.get("components", {}))
    hashes = input_hashes(project)
    todo = [
        c
        for c in COMPONENTS
        if force or components.get(c, {}).get("inputs") != hashes[c] or not (build_dir / c).is_dir()
    ]
    skipped = tuple(c for c in COMPONENTS if c not in todo)
    for name in skipped:
        say(f"{name}: up to date")
    metrics: dict = {}
    if todo:
        if encoder is None:
            say(f"loading encoder {project.config.models.encoder}")
            encoder = Encoder(project.config.models.encoder, project.root).load()
        for name in todo:
            t0 = time.perf_counter()
            tmp = build_dir / f"{name}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            if name == "intents":
                tuned = build_dir / TUNED_ENCODER
                if tunes_encoder(project) and tuned.is_dir() and encoder.path != tuned:
                    encoder = Encoder(tuned).load()
                serving = quantized_encoder(encoder, project.config.models.quantize)  # the head fits served embeddings
                encode = lambda texts, e=serving: e.encode(list(texts), progress=True)  # noqa: E731
                metrics[name] = _train_intents(project, encode, tmp, say)
            else:
                metrics[name], tuned_encoder = _train_knowledge(project, encoder, tmp, say)
                if tuned_encoder is not None:
                    # the encoder object now lives in knowledge.tmp; point it at its final home
                    tuned_encoder.path = build_dir / TUNED_ENCODER
                    encoder = tuned_encoder
            final = build_dir / name
            shutil.rmtree(final, ignore_errors=True)
            tmp.rename(final)
            seconds = time.perf_counter() - t0
            components[name] = {
                "inputs": hashes[name],
                "trained_at": time.time(),
                "seconds": round(seconds, 2),
                "metrics": metrics[name],
            }
            say(f"{name}: trained in {seconds:.1f}s")
    written = {
        "format_version": FORMAT_VERSION,
        "smallbot_version": __version__,
        "encoder": project.config.models.encoder,
        "components": components,
    }
    export = dict(manifest.get("export", {}))
    inputs = export_inputs(project, hashes)
    if force or export.get("inputs") != inputs or not _export_present(project, export.get("kind")):
        kind = "onnx" if project.config.models.quantize == "none" else "torchscript"
        encoder, export = _export_serving_encoder(project, encoder, say, kind)
        exported = True
    else:
        exported = False
        say("serving encoder: up to date")
    _write_manifest(build_dir, {**written, "export": export})
    return BuildResult(build_dir, tuple(todo), skipped, time.perf_counter() - started, metrics, exported)


def _write_manifest(build_dir: Path, manifest: dict) -> None:
    """Written last and renamed into place: replicas serving this directory reload when it changes
    (Bot.reload_build), so it must never be seen half-written. A failed export leaves the previous
    manifest, whose hashes no longer match, so the build is not taken as up to date."""
    manifest_tmp = build_dir / f"{MANIFEST}.tmp"
    manifest_tmp.write_text(json.dumps(manifest, indent=2))
    manifest_tmp.replace(build_dir / MANIFEST)


def export_inputs(project: Project, hashes: dict[str, str]) -> str:
    """The serving export's inputs: THE encoder (its reference, and the knowledge inputs when training tunes
    it) and its precision. FAQ or intent edits that leave the encoder as it is do not re-export it."""
    from smallbot.encoding.onnx_encoder import FORMAT_VERSION as ONNX_FORMAT

    cfg = project.config
    tuned = hashes["knowledge"] if tunes_encoder(project) else ""
    return _digest(EXPORT_FORMAT, ONNX_FORMAT, cfg.models.encoder, cfg.models.quantize, tuned)


def export_serving_encoder(project: Project, kind: str = "onnx", report: Report | None = None) -> dict:
    """Export THE encoder of a trained `project` again, as `kind` ("onnx" or "torchscript"), and record it.

    `smallbot train` does this itself (ONNX, or TorchScript for torch int8). A TorchScript export of an
    unquantised bot is served (importing torch) until the next export: benchmarks/speed.py serves the same
    build both ways this way."""
    say = report or (lambda text: log.info(text))
    manifest = read_manifest(project.build_dir)
    if not manifest.get("export"):
        raise ArtifactError(f"{project.root} is not trained: run `smallbot train {project.root}`")
    _, export = _export_serving_encoder(project, None, say, kind)
    _write_manifest(project.build_dir, {**manifest, "export": export})
    return export


def _export_present(project: Project, kind: str | None) -> bool:
    """Whether the files of the export the manifest records are there (a failed int8 trace records "none":
    that bot is served by the eager encoder)."""
    from smallbot.encoding.onnx_encoder import OnnxEncoder
    from smallbot.encoding.torchscript import ExportedEncoder

    if kind == "onnx":
        return OnnxEncoder.available(project.build_dir / ONNX_DIR)
    if kind == "torchscript":
        return ExportedEncoder.available(project.build_dir / EXPORT_DIR)
    return kind == "none"


def _export_serving_encoder(project: Project, encoder: Encoder | None, say: Report, kind: str) -> tuple[Encoder, dict]:
    """Export THE encoder (fine-tuned when there is one) so serving imports neither torch nor transformers;
    returns the eager encoder it loaded and the manifest's export entry.

    ONNX is verified against the eager encoder (ExportError fails the build). torch's dynamic int8 does not
    export to ONNX, so `models.quantize` bots get the TorchScript trace."""
    build_dir = project.build_dir
    # the old export goes first: a failed export must leave no stale encoder for serving to pick up
    shutil.rmtree(build_dir / ONNX_DIR, ignore_errors=True)
    shutil.rmtree(build_dir / EXPORT_DIR, ignore_errors=True)
    started = time.perf_counter()
    inputs = export_inputs(project, input_hashes(project))
    tuned = build_dir / TUNED_ENCODER
    if tuned.is_dir():
        if encoder is None or encoder.path != tuned:
            encoder = Encoder(tuned).load()
    elif encoder is None:
        encoder = Encoder(project.config.models.encoder, project.root).load()
    texts = [t for e in project.knowledge for t in e.phrasings] + project.intents.texts_and_labels()[0]
    mode = project.config.models.quantize
    entry: dict = {"inputs": inputs}
    if kind == "onnx":
        if mode != "none":
            raise TrainingError(f"models.quantize: {mode} is torch's int8, which does not export to ONNX")
        from smallbot.encoding.onnx_export import export_onnx
        from smallbot.knowledge.base import KnowledgeBase

        kb = KnowledgeBase.load(build_dir / "knowledge")
        rows, vectors = kb.index.live()
        check = export_onnx(
            encoder,
            build_dir / ONNX_DIR,
            vectors,
            [kb.rows[int(row)][0] for row in rows],
            extra=texts[:: max(1, len(texts) // CHECKED_PHRASINGS)][:CHECKED_PHRASINGS],
        )
        say(
            f"serving encoder exported (ONNX, cosine >= {check.worst_cosine:.7f} to the trained encoder on "
            f"{check.messages} messages, same FAQ ranking): answering will not import torch"
        )
        entry.update(kind="onnx", check=dataclasses.asdict(check))
    else:
        from smallbot.encoding.torchscript import export_encoder

        sample = texts[:: max(1, len(texts) // 200)]
        if export_encoder(quantized_encoder(encoder, mode), build_dir / EXPORT_DIR, sample, quantize=mode):
            say(f"serving encoder exported (TorchScript, {mode}): answering will not import transformers")
            entry.update(kind="torchscript")
        else:
            say("serving encoder could not be exported exactly; the bot will load it with transformers")
            entry.update(kind="none")
    entry.update(seconds=round(time.perf_counter() - started, 2))
    return encoder, entry


FAQ_INTENT = "_faq"  # internal intent for FAQ phrasings no faq-route intent claims by tag


def faq_examples(project: Project) -> list[tuple[str, str]]:
    """(text, intent) pairs that add every FAQ phrasing to the intent training data.

    Without them the classifier has never seen a knowledge question and calls "can I add PayPal as a
    payment option?" a feature request. A phrasing goes to the faq-route intent sharing one of its
    entry's tags, else to the internal `_faq` intent; phrasings that are already examples are skipped.
    """
    by_tag: dict[str, str] = {}
    for intent in project.intents.intents:
        if intent.route is Route.FAQ:
            for tag in intent.tags:
                by_tag.setdefault(tag, intent.name)
    taken = {" ".join(t.casefold().split()) for i in project.intents.intents for t in i.examples}
    pairs = []
    for entry in project.knowledge:
        label = next((by_tag[t] for t in entry.tags if t in by_tag), FAQ_INTENT)
        for text in entry.phrasings:
            key = " ".join(text.casefold().split())
            if key not in taken:
                taken.add(key)
                pairs.append((text, label))
    return pairs


def _train_intents(project: Project, encode, out: Path, say: Report) -> dict:
    from smallbot.intents.train import train_linear

    dataset = project.intents
    out.mkdir(parents=True)
    routes = {i.name: {"route": i.route.value, "response": i.response, "tags": list(i.tags)} for i in dataset.intents}
    texts, labels = dataset.texts_and_labels()
    extra = faq_examples(project)
    if any(label == FAQ_INTENT for _, label in extra):
        routes[FAQ_INTENT] = {"route": Route.FAQ.value, "response": None, "tags": []}
    (out / "routes.json").write_text(json.dumps(routes, indent=2))
    if len(routes) < 2:
        say("intents: fewer than two intents, no classifier trained (every message goes to the knowledge base)")
        return {"intents": len(dataset.intents)}
    texts += [text for text, _ in extra]
    labels += [label for _, label in extra]
    say(f"intents: training on {len(texts)} examples of {len(routes)} intents ({len(extra)} from FAQ phrasings)")
    classifier = train_linear(texts, labels, encode, seed=project.config.seed, out_of_scope=dataset.out_of_scope)
    classifier.save(out / "classifier")
    return classifier.metrics


def _intent_groups(project: Project) -> list[list[str]]:
    """Each intent's own examples, one group per intent (FAQ phrasings stay out: some are held out
    of tuning to calibrate the answer threshold)."""
    return [list(intent.examples) for intent in project.intents.intents if intent.examples]


def calibration_advice(result: Calibration, *, target: float) -> str | None:
    """The one change that would most improve the FAQ answers, said at train time because the bot itself
    only shows it as questions answered with "did you mean" or the fallback."""
    if result.positives == 0:
        return (
            "no alternates to learn from, so the confidence is the shipped prior: add two or three "
            "alternates, worded the way customers ask, to the entries asked about most"
        )
    if result.offtopic_answered is not None and result.offtopic_answered > 0.01:
        return (
            f"{result.offtopic_answered:.0%} of off-topic messages would get an FAQ answer: add out_of_scope "
            "examples that sound like your questions but are not about your product"
        )
    if result.wrong_rate is not None and result.wrong_rate > target:
        return (
            "the wrong-answer share is above thresholds.target_wrong_answer_rate: add alternates that tell "
            "neighbouring entries apart (`smallbot eval` lists the confused ones)"
        )
    if result.answered_rate is not None and result.answered_rate < 0.5:
        return (
            'most held-out alternates get "did you mean" rather than an answer: add alternates that tell '
            "neighbouring entries apart, or raise thresholds.target_wrong_answer_rate"
        )
    return None


def describe_calibration(result: Calibration) -> str:
    """What the author can expect, and what that expectation is based on."""
    if result.answered_rate is None:
        expected = "expected rates follow the shipped prior"
    else:
        wrong = f"{result.wrong_rate:.1%}" if result.wrong_rate is not None else "none"
        expected = (
            f"on {result.positives} held-out alternates {result.answered_rate:.0%} answered directly, "
            f"{wrong} of answers wrong"
        )
    offtopic = (
        f"; {result.offtopic_answered:.1%} of {result.negatives} off-topic messages answered"
        if result.offtopic_answered is not None
        else ""
    )
    return (
        f"answer threshold {result.bands.answer:.3f}, suggest threshold {result.bands.suggest:.3f} "
        f"(P(right)); {expected}{offtopic}"
    )


def _train_knowledge(project: Project, encoder: Encoder, out: Path, say: Report) -> tuple[dict, Encoder | None]:
    """Fine-tune the encoder (when bot.yml asks), index every phrasing, calibrate the bands on held-out ones.

    Intent tuning (intents.finetune_steps) runs here too, before the FAQ tuning and on the same copy,
    so ONE tuned encoder serves retrieval and the intent head (one encoder pass per message), and the
    FAQ bands are calibrated on the encoder that will serve.
    """
    from smallbot.knowledge.finetune import FinetuneSettings, finetune_encoder
    from smallbot.knowledge.train import train_knowledge_base

    entries = list(project.knowledge)
    settings = project.config.knowledge
    negatives = negative_examples(project)
    tuned: Encoder | None = None
    finetune_metrics: dict = {}
    intent_settings = project.config.intents
    intent_groups = _intent_groups(project)
    if intent_settings.finetune_steps > 0 and len(intent_groups) >= 2:
        say(
            f"intents: fine-tuning the encoder ({intent_settings.finetune_loss}) for {intent_settings.finetune_steps} "
            f"steps on {sum(len(g) for g in intent_groups)} examples of {len(intent_groups)} intents"
        )
        tuned = encoder.clone()
        report: EndToEndReport | FinetuneReport
        if intent_settings.finetune_loss == "cross_entropy":
            from smallbot.intents.endtoend import EndToEndSettings, finetune_classifier

            texts = [t for g in intent_groups for t in g]
            labels = [str(i) for i, g in enumerate(intent_groups) for _ in g]
            report = finetune_classifier(
                tuned,
                texts,
                labels,
                project.intents.out_of_scope,
                EndToEndSettings(
                    steps=intent_settings.finetune_steps,
                    batch_size=intent_settings.finetune_batch,
                    train_layers=intent_settings.finetune_layers,
                    seed=project.config.seed,
                ),
            )
        else:
            report = finetune_encoder(
                tuned,
                intent_groups,
                project.intents.out_of_scope,
                None,
                FinetuneSettings(
                    steps=intent_settings.finetune_steps,
                    batch_size=intent_settings.finetune_batch,
                    train_layers=intent_settings.finetune_layers,
                    seed=project.config.seed,
                ),
            )
        finetune_metrics.update(
            {
                "intents_finetune_loss_kind": intent_settings.finetune_loss,
                "intents_finetune_steps": report.steps,
                "intents_finetune_seconds": report.seconds,
                "intents_finetune_loss": [report.first_loss, report.last_loss],
            }
        )
        encoder = tuned
    training = train_knowledge_base(
        entries,
        negatives,
        encoder,
        target_wrong_rate=project.config.thresholds.target_wrong_answer_rate,
        seed=project.config.seed,
        say=say,
        owns_encoder=tuned is not None,
        calibration=settings.calibration,
        index_answers=settings.index_answers,
        # index and calibrate (the intent head is fitted later) on the embeddings the bot will serve
        serve_as=lambda e: quantized_encoder(e, project.config.models.quantize),
        finetune=FinetuneSettings(
            steps=settings.finetune_steps,
            batch_size=settings.finetune_batch,
            train_layers=settings.finetune_layers,
            seed=project.config.seed,
        ),
    )
    if training.finetune is not None:
        tuning = training.finetune
        finetune_metrics.update(
            {
                "finetune_steps": tuning.steps,
                "finetune_seconds": tuning.seconds,
                "finetune_loss": [tuning.first_loss, tuning.last_loss],
            }
        )
    if training.tuned:
        tuned = training.encoder
    kb, result = training.kb, training.calibration
    if entries:
        rounded = lambda v: None if v is None else round(v, 4)  # noqa: E731
        kb.metrics = {
            "answer_threshold": round(result.bands.answer, 4),
            "suggest_threshold": round(result.bands.suggest, 4),
            "confidence": "calibrated P(right)" if result.confidence is not None else "fused score",
            "held_out_answered_rate": rounded(result.answered_rate),
            "held_out_wrong_rate": rounded(result.wrong_rate),
            "offtopic_answered_rate": rounded(result.offtopic_answered),
            "held_out_phrasings": result.positives,
            "negatives": result.negatives,
            "index": kb.index.kind,
            "index_answers": kb.index_answers,
            **finetune_metrics,
        }
        say("knowledge: " + describe_calibration(result))
        advice = calibration_advice(result, target=project.config.thresholds.target_wrong_answer_rate)
        if advice:
            say("knowledge: to answer more: " + advice)
    kb.save(out)
    if tuned is not None:
        tuned.save(out / "encoder")
    return kb.metrics, tuned
