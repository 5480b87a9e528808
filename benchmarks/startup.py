"""Cold start: seconds from launching `smallbot chat DIR` (trained bot) to the first answer on screen,
in a real pseudo-terminal, against the floor of launching Python and importing torch + transformers.

    python benchmarks/startup.py [--bot examples/helpdesk] [--runs 5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pexpect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, median, save  # noqa: E402

QUESTION = "I forgot my password"


def time_first_answer(bot: Path) -> float:
    started = time.perf_counter()
    child = pexpect.spawn(sys.executable, ["-m", "smallbot", "chat", str(bot)], encoding="utf-8", timeout=120)
    child.expect("you>")
    child.sendline(QUESTION)
    child.expect(r"\[source: ")
    elapsed = time.perf_counter() - started
    child.sendeof()
    child.expect(pexpect.EOF)
    return elapsed


def time_import_floor() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, transformers"], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bot", type=Path, default=REPO / "examples" / "helpdesk")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "smallbot", "train", str(args.bot)], check=True, capture_output=True)
    time_first_answer(args.bot)  # warm the OS file cache, as on a laptop that has run it before
    chat = [time_first_answer(args.bot) for _ in range(args.runs)]
    floor = [time_import_floor() for _ in range(args.runs)]
    results = {"runs": args.runs, "chat_to_first_answer_s": chat, "import_torch_transformers_s": floor,
               "median_chat_to_first_answer_s": median(chat), "median_import_floor_s": median(floor)}
    save("startup", results)
    print(f"smallbot chat -> first answer: median {median(chat):.2f} s over {args.runs} runs {[round(x, 2) for x in chat]}")
    print(f"floor (python -c 'import torch, transformers'): median {median(floor):.2f} s; "
          f"ratio {median(chat) / median(floor):.2f}x")


if __name__ == "__main__":
    main()
