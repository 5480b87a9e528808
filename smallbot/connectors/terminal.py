"""Terminal chat: a prompt with line editing and history on a tty, plain lines when piped."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TextIO

from smallbot.project.config import Section
from smallbot.plugins import BotService
from smallbot.types import Message, Reply, ReplyKind

from .markdown import MarkdownStyle, render_markdown

HELP = """Type a question and press Enter.
  1, 2, 3   pick a numbered suggestion      yes / no   answer "did you mean ...?"
  /reset    start a new conversation         /help      this text
  /quit     leave (or Ctrl-D)"""


class TerminalStyle(MarkdownStyle):
    """Bold and italic as ANSI styles on a tty, the bare words when piped; links show their target."""

    def __init__(self, color: bool):
        self.color = color

    def strong(self, inner: str) -> str:
        return f"\033[1m{inner}\033[22m" if self.color else inner

    def emphasis(self, inner: str) -> str:
        return f"\033[3m{inner}\033[23m" if self.color else inner


def to_terminal(markdown: str, color: bool) -> str:
    """FAQ answers are written in Markdown; in a terminal its markers are noise, so they are turned into
    what a terminal can show, and nothing is lost:

    - **bold** and headings become bold, *italic* italic, when `color` (a tty); piped, only the words remain;
    - a link ``[label](url)`` becomes ``label (url)``: a terminal cannot hide a target, and the reader needs it;
    - `code` keeps its backticks (they mark text to type exactly) and nothing inside it is touched;
    - ``*`` and ``+`` bullets become ``-``; numbered lists, paragraphs and line breaks stay as written.

    >>> to_terminal("Go to **Settings** and read [the guide](https://x.example).", color=False)
    'Go to Settings and read the guide (https://x.example).'
    """
    return render_markdown(markdown, TerminalStyle(color))


class TerminalConnector:
    """Reads lines, hands each to the bot, prints the reply.

    >>> TerminalConnector(bot, sys.stdin, sys.stdout).run()
    """

    def __init__(self, bot: BotService, stdin: TextIO, stdout: TextIO, user: str = ""):
        self.bot = bot
        self.stdin = stdin
        self.stdout = stdout
        self.user = user
        self.conversation_id = uuid.uuid4().hex
        self.interactive = stdin.isatty() and stdout.isatty()
        self.color = stdout.isatty()

    def parse(self, line: str) -> Message | None:
        text = line.strip()
        return Message(self.conversation_id, text, user=self.user, channel="terminal") if text else None

    def render(self, reply: Reply) -> str:
        """The reply as the terminal shows it: its text (see `to_terminal`), then the source or a hint."""
        return to_terminal(reply.text, self.color) + self._extras(reply)

    def _extras(self, reply: Reply) -> str:
        if reply.kind is ReplyKind.ANSWER and reply.sources:
            source = reply.sources[0]
            more = f" ({source.links[0]})" if source.links else ""
            related = "".join(f"\n{i}. {s.text}" for i, s in enumerate(reply.suggestions, start=1))
            return (
                "\n"
                + self._dim(f"[source: {source.entry_id}{more}]")
                + (
                    (f"\n{reply.suggestions_label}" if reply.suggestions_label else "")
                    + related
                    + "\n"
                    + self._dim("(type a number to read one)")
                    if related
                    else ""
                )
            )
        if reply.kind is ReplyKind.SUGGEST:
            return "\n" + self._dim("(type a number, or rephrase)")
        return ""

    def _dim(self, text: str) -> str:
        return f"\033[2m{text}\033[0m" if self.color else text

    def _write(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def _read(self) -> str | None:
        if self.interactive:
            try:
                import readline  # noqa: F401 - enables line editing and history for input()
            except ImportError:
                pass
            try:
                return input(self._prompt())
            except EOFError:
                return None
        self._write(self._prompt())
        line = self.stdin.readline()
        return line if line else None

    def _prompt(self) -> str:
        return "\033[1myou>\033[0m " if self.color else "you> "

    def _stream(self, message: Message) -> None:
        """Print chunks as they come (generated replies arrive token by token), then the reply's extras.

        If the final Reply is not what was streamed (the fact check replaced an invented fact),
        the Reply's text is printed on a new line: it is the answer that counts.
        Each chunk goes through `to_terminal` on its own: an FAQ answer is one chunk, so its Markdown is
        rendered whole; a marker split across generated tokens is printed as it came.
        """
        shown = ""
        for item in self.bot.stream(message):
            if isinstance(item, Reply):
                if shown == item.text:
                    self._write(self._extras(item) + "\n")
                else:
                    self._write(("\n" if shown else "") + self.render(item) + "\n")
                return
            self._write(to_terminal(item, self.color))
            shown += item

    def run(self) -> int:
        name = self.bot.config.name
        self._write(f"{name} is ready. Type /help for commands, /quit to leave.\n")
        try:
            while True:
                line = self._read()
                if line is None:
                    self._write("\nbye\n")
                    return 0
                command = line.strip().lower()
                if command in ("/quit", "/exit", "/q"):
                    self._write("bye\n")
                    return 0
                if command == "/help":
                    self._write(HELP + "\n")
                    continue
                if command == "/reset":
                    self.bot.reset(self.conversation_id)
                    self.conversation_id = uuid.uuid4().hex
                    self._write("(conversation reset)\n")
                    continue
                message = self.parse(line)
                if message is None:
                    continue
                self._write("bot> ")
                self._stream(message)
        except KeyboardInterrupt:
            self._write("\nbye\n")
            return 0


@dataclass(frozen=True)
class TerminalConfig:
    """The `terminal:` section: nothing to set yet (`smallbot chat --user` names the user)."""


@dataclass(frozen=True)
class TerminalPlugin:
    """The terminal connector as registered under `terminal` (smallbot.registry); `smallbot chat` runs it."""

    name: str = "terminal"

    def read_config(self, section: Section) -> TerminalConfig:
        return section.read(TerminalConfig)


connector = TerminalPlugin()
