"""The ONNX serving encoder: exported and verified at train time, served by onnxruntime without torch."""

from __future__ import annotations

import json
import re
from importlib import metadata
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from smallbot.build.pipeline import is_up_to_date, train_project
from smallbot.encoding.onnx_encoder import ONNX_DIR, OnnxEncoder
from smallbot.encoding.onnx_export import (
    CHECK_MESSAGES,
    MIN_COSINE,
    ExportError,
    _write,
    export_onnx,
    verify,
)
from smallbot.errors import ArtifactError
from smallbot.project.loader import load_project
from smallbot.runtime.bot import Bot
from smallbot.types import Message, ReplyKind

REPO = Path(__file__).resolve().parents[2]
TEXTS = ["hi", "how do I reset my password, I forgot it yesterday", "refund?", "word " * 300, "Ünïcödé tèxt ✓", ""]


@pytest.fixture(scope="module")
def exported(encoder, tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("onnx") / ONNX_DIR
    rows = encoder.encode(["reset my password", "get a refund", "delete my account"])
    export_onnx(encoder, directory, rows, ["reset", "refund", "delete"])
    return directory


def test_the_export_embeds_like_the_eager_encoder_across_lengths_and_batches(encoder, exported):
    onnx = OnnxEncoder(exported, threads=1).load()
    eager = encoder.encode(TEXTS, batch_size=1)
    for batch_size in (1, 2, 64):
        got = onnx.encode(TEXTS, batch_size=batch_size)
        assert got.shape == eager.shape and got.dtype == np.float32
        assert np.min(np.sum(got * eager, axis=1)) >= MIN_COSINE
    assert onnx.encode([]).shape == (0, encoder.dim)
    check = json.loads((exported / "check.json").read_text())
    assert check["messages"] == len(CHECK_MESSAGES) and check["worst_cosine"] >= MIN_COSINE


def test_onnxruntime_threads_follow_the_setting(exported):
    onnx = OnnxEncoder(exported, threads=1).load()
    assert onnx._runtime.get_session_options().intra_op_num_threads == 1
    before = onnx.encode(["how do I pay?"])
    onnx.set_threads(2)  # a loaded encoder gets a new session with the new pool
    assert onnx._runtime.get_session_options().intra_op_num_threads == 2
    assert np.abs(onnx.encode(["how do I pay?"]) - before).max() < 1e-5


def test_an_export_that_disagrees_with_the_eager_encoder_is_refused(encoder, tmp_path):
    """A model whose weights drifted from the ones the index was fitted on must not be served."""
    import torch

    drifted = encoder.clone()
    with torch.no_grad():
        for parameter in drifted.model.encoder.layer[-1].parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05, alpha=1.0)
    _write(drifted, tmp_path)
    with pytest.raises(ExportError, match="cosine"):
        verify(encoder, OnnxEncoder(tmp_path).load(), CHECK_MESSAGES, np.zeros((0, encoder.dim)), [])


def test_a_changed_faq_ranking_is_refused(encoder, exported):
    """Two FAQ rows placed so that the eager embedding of a message ranks "a" first and the ONNX one (a hair
    away) ranks "b" first, by a margin far above the tie tolerance: the export is refused."""
    onnx = OnnxEncoder(exported, threads=1).load()
    message = CHECK_MESSAGES[2]
    eager, served = encoder.encode([message], batch_size=1)[0], onnx.encode([message])[0]
    across = (served - eager) - float((served - eager) @ eager) * eager  # the difference, orthogonal to eager
    size = float(np.linalg.norm(across))
    if size == 0:
        pytest.skip("the two runtimes agree bit for bit on this message: no ranking can differ")
    v = across / size - 0.5 * size * eager  # eager·v = -size/2 < 0 < served·v ≈ size/2
    rows = np.stack([-v, v]) * (1e-3 / size)
    assert float(rows[0] @ eager) > float(rows[1] @ eager) and float(rows[1] @ served) > float(rows[0] @ served)
    with pytest.raises(ExportError, match="ranks the FAQ differently"):
        verify(encoder, onnx, [message], rows, ["a", "b"])


def test_the_build_exports_once_and_again_only_when_the_encoder_changes(tiny_copy, encoder):
    root = tiny_copy
    onnx_file = root / ".smallbot" / ONNX_DIR / "encoder.onnx"
    assert onnx_file.exists() and not (root / ".smallbot" / "serve_encoder").exists()
    stamp = onnx_file.stat().st_mtime_ns
    result = train_project(load_project(root), encoder=encoder)
    assert result.trained == () and not result.exported and onnx_file.stat().st_mtime_ns == stamp
    # an FAQ edit retrains the knowledge base but leaves the (untuned) encoder, so no export
    faq = root / "knowledge" / "faq.yml"
    faq.write_text(faq.read_text().replace("Settings, Account, Delete account.", "Settings, then Delete account."))
    result = train_project(load_project(root), encoder=encoder)
    assert "knowledge" in result.trained and not result.exported and onnx_file.stat().st_mtime_ns == stamp
    # a missing export is made again, alone
    onnx_file.unlink()
    assert not is_up_to_date(load_project(root))
    result = train_project(load_project(root), encoder=encoder)
    assert result.trained == () and result.exported and onnx_file.exists()
    assert is_up_to_date(load_project(root))


def test_a_build_from_before_the_onnx_export_asks_for_a_train(tiny_copy, encoder):
    """A build whose manifest has no export entry (made before ONNX serving) is refused with the fix."""
    build = tiny_copy / ".smallbot"
    manifest = json.loads((build / "manifest.json").read_text())
    del manifest["export"]
    (build / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="smallbot train"):
        Bot.load(tiny_copy, with_store=False)
    result = train_project(load_project(tiny_copy), encoder=encoder)
    assert result.trained == () and result.exported
    bot = Bot.load(tiny_copy, with_store=False)
    try:
        assert isinstance(bot.encoder, OnnxEncoder)
    finally:
        bot.close()


SERVE_WITHOUT_TORCH = textwrap.dedent(
    """
    import asyncio, contextlib, io, json, sys

    root = sys.argv[1]
    from smallbot.runtime.bot import Bot
    from smallbot.types import Message
    from smallbot.cli import main

    bot = Bot.load(root)
    sync = bot.handle(Message("c1", "i can't remember my password"))
    kind = type(bot.encoder).__name__

    async def over_http():
        from aiohttp.test_utils import TestClient, TestServer
        from smallbot.connectors.web import create_app

        async with TestClient(TestServer(create_app(bot), host="127.0.0.1")) as client:
            answers = await asyncio.gather(*[
                client.post("/api/messages", json={"text": text})
                for text in ["i forgot my password", "how do I get my money back", "hello"] * 3
            ])
            return [(await r.json())["kind"] for r in answers], bot.batcher.encoded

    web, encoded = asyncio.run(over_http())
    bot.close()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["ask", root, "when are you open"])
    import smallbot.commands.chat, smallbot.commands.serve, smallbot.commands.slack  # noqa: F401
    import smallbot.connectors.slack, smallbot.connectors.terminal  # noqa: F401
    from importlib.metadata import packages_distributions
    owners = packages_distributions()
    used = sorted({d for name in list(sys.modules) if "." not in name for d in owners.get(name, [])})
    print(json.dumps({"used": used, "encoder": kind, "sync": sync.kind.value, "web": web, "encoded": encoded, "ask_rc": rc,
                      "ask": out.getvalue(), "torch": "torch" in sys.modules,
                      "transformers": "transformers" in sys.modules}))
    """
)


def test_serving_imports_neither_torch_nor_transformers(tiny_copy):
    """Load a trained bot, answer in process, over HTTP (micro-batched) and with `smallbot ask`: no torch."""
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    out = subprocess.run([sys.executable, "-c", SERVE_WITHOUT_TORCH, str(tiny_copy)], capture_output=True,
                         text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["encoder"] == "OnnxEncoder"
    assert result["sync"] == "answer" and result["web"].count("answer") >= 3 and result["encoded"] > 0
    assert result["ask_rc"] == 0 and "monday to friday" in result["ask"].lower()
    assert result["torch"] is False and result["transformers"] is False
    listed = _requirements_closure(REPO / "requirements-serve.txt")
    # setuptools' distutils shim is loaded by a .pth file in every virtual environment
    used = {_norm(d) for d in result["used"]} - {"smallbot", "setuptools"}
    assert used <= listed, f"requirements-serve.txt misses {sorted(used - listed)}"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements_closure(path: Path) -> set[str]:
    """The distributions a `pip install -r path` brings: those listed and, recursively, what they require."""
    todo = [re.split(r"[ <>=!~;\[]", line.strip(), maxsplit=1)[0] for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    seen: set[str] = set()
    while todo:
        name = _norm(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [re.split(r"[ <>=!~;\[(]", r, maxsplit=1)[0] for r in requires if "extra ==" not in r]
    return seen


def test_a_trained_bot_answers_with_the_onnx_encoder(tiny_copy):
    bot = Bot.load(tiny_copy, with_store=False)
    try:
        assert isinstance(bot.encoder, OnnxEncoder)
        reply = bot.handle(Message("c", "i can't remember my password"))
        assert reply.kind is ReplyKind.ANSWER and reply.sources[0].entry_id == "reset-password"
    finally:
        bot.close()


def test_an_enabled_generator_imports_nothing_until_it_generates(tiny_copy):
    """The generator stays opt-in and lazy: a bot that enables it answers FAQ messages without torch."""
    with open(tiny_copy / "bot.yml", "a") as f:
        f.write("generator:\n  enabled: true\n  load: lazy\n")
    code = ("import sys; from smallbot.runtime.bot import Bot; from smallbot.types import Message; "
            f"b = Bot.load({str(tiny_copy)!r}, with_store=False); r = b.handle(Message('c', 'i forgot my password')); "
            "print(r.kind.value, b.generator is not None, 'torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["answer", "True", "False", "False"]
