"""`models.quantize`: a bot trained and served with an int8 encoder answers as the fp32 one does, its traced
export round-trips, and the setting is validated and part of the build's inputs."""

from __future__ import annotations

import subprocess
import sys
import typing

import numpy as np
import pytest

from smallbot.runtime.bot import Bot
from smallbot.build.pipeline import is_up_to_date, train_project
from smallbot.project.config import ModelsConfig
from smallbot.errors import ArtifactError, ProjectError
from smallbot.encoding.torchscript import EXPORT_DIR, ExportedEncoder
from smallbot.project.loader import load_project
from smallbot.encoding.quantize import MODES, ffn_linear_names, quantized_encoder
from smallbot.types import Message, ReplyKind
from tests.conftest import TINY_BOT, write_project

INT8_BOT = {**TINY_BOT, "bot.yml": """
    name: Tiny
    fallback: "I don't know."
    models:
      quantize: int8
"""}
QUESTIONS = ["i can't remember my password", "when do you open?", "I'd like my money back",
             "how can I close my account", "what's the weather tomorrow"]


@pytest.fixture(scope="module")
def trained_int8(tmp_path_factory, encoder):
    root = write_project(tmp_path_factory.mktemp("int8") / "tiny", INT8_BOT)
    train_project(load_project(root), encoder=encoder)
    return root


def _answers(bot: Bot) -> list[tuple[str, str | None]]:
    replies = [bot.handle(Message("c", q)) for q in QUESTIONS]
    return [(r.kind.value, r.sources[0].entry_id if r.sources else None) for r in replies]


def test_every_bot_yml_quantize_value_is_a_quantize_mode():
    offered = typing.get_args(typing.get_type_hints(ModelsConfig)["quantize"])
    assert offered[0] == "none" and set(offered) <= set(MODES)


def test_int8_bot_serves_a_traced_int8_encoder_and_answers_as_the_fp32_bot(trained_int8, tiny_copy):
    int8 = Bot.load(trained_int8, with_store=False)
    fp32 = Bot.load(tiny_copy, with_store=False)
    try:
        assert isinstance(int8.encoder, ExportedEncoder) and int8.encoder.quantize == "int8"
        assert fp32.encoder.quantize == "none"
        assert _answers(int8) == _answers(fp32)
        reply = int8.handle(Message("c", "i can't remember my password"))
        assert reply.kind is ReplyKind.ANSWER and reply.sources[0].entry_id == "reset-password"
    finally:
        int8.close()
        fp32.close()


def test_int8_export_round_trips_the_eager_int8_embeddings(trained_int8, encoder):
    exported = ExportedEncoder(trained_int8 / ".smallbot" / EXPORT_DIR).load()
    texts = ["hi", "how do I reset my password, I forgot it yesterday", "word " * 300]
    eager = quantized_encoder(encoder, "int8").encode(texts)
    assert np.abs(exported.encode(texts) - eager).max() < 1e-4
    assert np.abs(eager - encoder.encode(texts)).max() > 1e-4  # it is really int8, not the fp32 weights


def test_an_eager_encoder_is_quantised_when_the_bot_is_built_in_process(trained_int8, encoder):
    bot = Bot.from_build(load_project(trained_int8), encoder=encoder, with_store=False)
    try:
        assert getattr(bot.encoder, "quantize", "none") == "int8" and encoder is not bot.encoder
        assert bot.handle(Message("c", "when do you open?")).sources[0].entry_id == "opening-hours"
    finally:
        bot.close()


def test_serving_an_int8_bot_never_imports_transformers(trained_int8):
    code = ("import sys; from smallbot.runtime.bot import Bot; from smallbot.types import Message; "
            f"b = Bot.load({str(trained_int8)!r}, with_store=False); r = b.handle(Message('c', 'i forgot my password')); "
            "print(r.kind.value, 'transformers' in sys.modules, b.encoder.quantize)")
    out = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.split() == ["answer", "False", "int8"]


def test_changing_quantize_makes_the_build_stale_and_a_mismatched_export_refused(trained_tiny, tmp_path):
    import shutil

    root = tmp_path / "tiny"
    shutil.copytree(trained_tiny, root)
    assert is_up_to_date(load_project(root))
    (root / "bot.yml").write_text((root / "bot.yml").read_text() + "models:\n  quantize: int8\n")
    project = load_project(root)
    assert not is_up_to_date(project)
    with pytest.raises(ArtifactError, match="models.quantize"):
        Bot.from_build(project, with_store=False)


def test_an_unknown_quantize_value_names_the_file_the_key_and_the_choices(tmp_path):
    root = write_project(tmp_path / "bot", {**TINY_BOT, "bot.yml": "models:\n  quantize: int4\n"})
    with pytest.raises(ProjectError) as info:
        load_project(root)
    assert "bot.yml:2: 'models.quantize' must be one of 'none', 'int8', got 'int4'" in str(info.value)


def test_ffn_quantisation_leaves_attention_in_fp32(encoder):
    names = ffn_linear_names(encoder.model)
    assert len(names) == 2 * encoder.model.config.num_hidden_layers
    assert not any(".attention." in n for n in names)
    from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear

    twin = quantized_encoder(encoder, "int8-ffn")
    modules = dict(twin.model.named_modules())
    assert not isinstance(modules["encoder.layer.0.attention.self.query"], DynamicInt8Linear)
    assert isinstance(modules["encoder.layer.0.intermediate.dense"], DynamicInt8Linear)
    assert isinstance(modules["encoder.layer.5.output.dense"], DynamicInt8Linear)
    assert not isinstance(encoder.model.encoder.layer[0].intermediate.dense, DynamicInt8Linear)  # original untouched


def test_quantize_none_leaves_the_build_hashes_as_they_were_without_the_key(tmp_path):
    from smallbot.build.pipeline import input_hashes

    plain = load_project(write_project(tmp_path / "plain", TINY_BOT))
    explicit = load_project(write_project(tmp_path / "explicit", {**TINY_BOT, "bot.yml": "models:\n  quantize: none\n"}))
    quantized = load_project(write_project(tmp_path / "int8", {**TINY_BOT, "bot.yml": "models:\n  quantize: int8\n"}))
    # the bot.yml texts differ, but bot.yml is not hashed as a file: only the settings that feed each component
    assert input_hashes(plain) == input_hashes(explicit)
    assert input_hashes(quantized)["knowledge"] != input_hashes(plain)["knowledge"]
    assert input_hashes(quantized)["intents"] != input_hashes(plain)["intents"]
