"""Terminal chat: a prompt with line editing and history on a tty, plain lines when piped."""

from __future__ import annotations

import uuid
from typing import TextIO

from smallbot.types import Message, Reply, ReplyKind

HELP = """Type a question and press Enter.
  1, 2, 3   pick a numbered suggestion      yes / no   answer "did you mean ...?"
  /reset    start a new conversation         /help      this text
  /quit     leave (or Ctrl-D)"""


class TerminalConnector:
    """Reads lines, hands each to the bot, prints the reply.

    >>> TerminalConnector(bot, sys.stdin, sys.stdout).run()
    """

    def __init__(self, bot, stdin: TextIO, stdout: TextIO, user: str = ""):
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
        text = reply.text
        if reply.kind is ReplyKind.ANSWER and reply.sources:
            source = reply.sources[0]
            more = f" ({source.links[0]})" if source.links else ""
            text += "\n" + self._dim(f"[source: {source.entry_id}{more}]")
        elif reply.kind is ReplyKind.SUGGEST:
            text += "\n" + self._dim("(type a number, or rephrase)")
        return text

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

        If the final Reply is not what was streamed (the generator guard replaced an invented fact),
        the Reply's text is printed on a new line: it is the answer that counts.
        """
        shown = ""
        for item in self.bot.stream(message):
            if isinstance(item, Reply):
                rendered = self.render(item)
                if shown == item.text:
                    self._write(rendered[len(item.text):] + "\n")
                else:
                    self._write(("\n" if shown else "") + rendered + "\n")
                return
            self._write(item)
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
