"""Run mypy on the package as it is installed: `smallbot` from bot/, `smallbot.intents` from intents/, ...

The four source folders install under one import name (pyproject's package-dir), which mypy cannot map by
itself, and an editable install hides the layout behind an import hook. So this lays the package out as
installed, with symlinks in a temporary directory, runs mypy there with pyproject's settings, and prints
the findings with the repository's own paths.

    python tools/typecheck.py [extra mypy arguments]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# import name -> source folder, as [tool.setuptools] package-dir says (subpackages live inside their folder)
LAYOUT = {
    "smallbot": "bot",
    "smallbot/intents": "intents",
    "smallbot/knowledge": "knowledge",
    "smallbot/connectors": "connectors",
}


def lay_out(root: Path) -> None:
    """Mirror the installed package under `root`: one symlink per source file, so edits need no refresh."""
    for target, source in LAYOUT.items():
        src = REPO / source
        for path in src.rglob("*"):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            if path.suffix not in (".py", ".pyi") and path.name != "py.typed":
                continue
            link = root / target / path.relative_to(src)
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(path)


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="smallbot-mypy-") as tmp:
        root = Path(tmp)
        lay_out(root)
        command = [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(REPO / "pyproject.toml"),
            "--cache-dir",
            str(REPO / ".mypy_cache"),
            "-p",
            "smallbot",
            *argv,
        ]
        done = subprocess.run(
            command, cwd=root, capture_output=True, text=True, env={**os.environ, "MYPYPATH": str(root)}
        )
        output = done.stdout + done.stderr
        # report repository paths, not the temporary layout (longest import path first)
        for target in sorted(LAYOUT, key=len, reverse=True):
            output = output.replace(f"{target}/", f"\0{LAYOUT[target]}/")
        sys.stdout.write(output.replace("\0", ""))
        return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
