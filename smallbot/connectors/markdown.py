"""FAQ answers are written in Markdown; each text channel shows them its own way. This walks markdown-it-py's
syntax tree once and lets a channel say how emphasis, links, code and list markers look (`MarkdownStyle`).

Parsing with a CommonMark parser instead of regexes gets the cases authors actually write right: emphasis
nested in emphasis, ``*`` inside a code span, link targets with parentheses. The layout of the source is kept:
blank lines between blocks come from the parser's line map, so a heading followed directly by its paragraph
stays on the next line, and numbered lists keep the numbers the author wrote.

>>> render_markdown("**Settings** and `a*b`", MarkdownStyle())
'Settings and `a*b`'
"""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode


@lru_cache(maxsize=2)
def _parser(strikethrough: bool) -> MarkdownIt:
    # html off: an answer's raw HTML is text to show, never markup to interpret
    parser = MarkdownIt("commonmark", {"html": False})
    return parser.enable("strikethrough") if strikethrough else parser


class MarkdownStyle:
    """Plain text: markers dropped, link targets shown after their label, code spans keep their backticks.

    Subclasses change the inline marks and list markers for their channel.
    """

    strikethrough = False  # parse ~~text~~ (channels that cannot show it keep the tildes as written)
    bullet = "- "
    quote = "> "

    def text(self, text: str) -> str:
        return text

    def strong(self, inner: str) -> str:
        return inner

    def emphasis(self, inner: str) -> str:
        return inner

    def strike(self, inner: str) -> str:
        return inner

    def heading(self, inner: str) -> str:
        return self.strong(inner)

    def code(self, markup: str, content: str) -> str:
        return f"{markup}{content}{markup}"

    def fence(self, markup: str, info: str, content: str) -> str:
        return f"{markup}{info}\n{content}{markup}"

    def code_block(self, source: str, content: str) -> str:
        """An indented code block: `source` as written, `content` without the indentation."""
        return self.text(source)

    def link(self, label: str, plain_label: str, href: str) -> str:
        shown = _parser(False).normalizeLinkText(href)  # as written, not percent-encoded
        target = shown.removeprefix("mailto:")
        return label if plain_label in (href, shown, target) else f"{label} ({target})"


def render_markdown(markdown: str, style: MarkdownStyle) -> str:
    """`markdown` as `style` shows it; whitespace around the text is kept as given (streamed chunks rely on it)."""
    if not markdown.strip():
        return markdown
    trail = markdown[len(markdown.rstrip()) :]
    body = markdown.rstrip()
    # leading blank lines, and fewer than four spaces before the first word, are layout the parser would drop;
    # four or more start an indented code block and stay with it
    cut = body.rfind("\n", 0, len(body) - len(body.lstrip("\n \t"))) + 1  # after the last leading blank line
    lead, body = body[:cut], body[cut:]
    indent = len(body) - len(body.lstrip(" "))
    if indent < 4:
        lead, body = lead + body[:indent], body[indent:]
    tree = SyntaxTreeNode(_parser(style.strikethrough).parse(body))
    return lead + _Walker(style, body).blocks(tree.children) + trail


class _Walker:
    def __init__(self, style: MarkdownStyle, source: str):
        self.style = style
        self.lines = source.split("\n")
        self.open: set[str] = set()  # marks around the current span: the same mark nested shows once

    def blocks(self, nodes: list[SyntaxTreeNode]) -> str:
        """Blocks joined by as many line breaks as the source had between them."""
        out = ""
        previous: int | None = None  # first source line of the block before
        for node in nodes:
            text = self.block(node)
            start = node.map[0] if node.map else previous
            if previous is not None and start is not None:
                out += "\n" * (1 + self._blank_before(start, previous))
            out += text
            previous = start
        return out

    def _blank_before(self, start: int, floor: int) -> int:
        """Blank source lines right above line `start` (a loose list item's map takes them in, so the map
        alone cannot tell); a quote's bare ``>`` line counts as blank."""
        count = 0
        for line in reversed(self.lines[floor + 1 : start]):
            if line.strip().lstrip(">").strip():
                break
            count += 1
        return count

    def block(self, node: SyntaxTreeNode) -> str:
        kind = node.type
        if kind == "paragraph":
            return self.inline(node.children)
        if kind == "heading":
            inner = self._marked("strong", node.children)
            return self.style.heading(inner) if inner else node.markup
        if kind in ("bullet_list", "ordered_list"):
            return self.blocks(node.children)
        if kind == "list_item":
            return self.item(node)
        if kind == "blockquote":
            prefix = self.style.quote
            inner = self.blocks(node.children)
            return "\n".join((prefix + line) if line else prefix.rstrip() for line in inner.split("\n"))
        if kind == "fence":
            return self.style.fence(node.markup, node.info, self.style.text(node.content))
        if kind == "code_block":
            return self.style.code_block(self._source(node), self.style.text(node.content))
        return self.style.text(self._source(node))  # a rule, or anything else this walker has no style for

    def item(self, node: SyntaxTreeNode) -> str:
        parent = node.parent
        ordered = parent is not None and parent.type == "ordered_list"
        if not node.children:  # a marker alone (a streamed chunk, say) is text as written
            return f"{node.info}{node.markup}" if ordered else node.markup
        marker = f"{node.info}{node.markup} " if ordered else self.style.bullet
        inner = self.blocks(node.children)
        pad = " " * len(marker)
        lines = inner.split("\n")
        first = (marker + lines[0]) if lines[0] else marker.rstrip()
        return "\n".join([first] + [pad + line if line else line for line in lines[1:]])

    def _source(self, node: SyntaxTreeNode) -> str:
        """A block shown as the author wrote it (indented code, rules, anything the walker has no style for)."""
        if not node.map:
            return node.content.rstrip("\n")
        return "\n".join(self.lines[node.map[0] : node.map[1]]).rstrip("\n")

    def inline(self, nodes: list[SyntaxTreeNode]) -> str:
        out = []
        for node in nodes:
            if node.type == "inline":
                out.append(self.inline(node.children))
            else:
                out.append(self.span(node))
        return "".join(out)

    def span(self, node: SyntaxTreeNode) -> str:
        kind = node.type
        if kind == "text":
            return self.style.text(node.content)
        if kind in ("softbreak", "hardbreak"):
            return "\n"
        if kind == "code_inline":
            return self.style.code(node.markup, self.style.text(node.content))
        if kind in ("strong", "em", "s"):
            if kind in self.open:
                return self.inline(node.children)
            inner = self._marked(kind, node.children)
            mark = {"strong": self.style.strong, "em": self.style.emphasis, "s": self.style.strike}[kind]
            return mark(inner)
        if kind == "link":
            href = str(node.attrs.get("href", ""))
            return self.style.link(self.inline(node.children), _plain(node), href)
        if kind == "image":
            href = str(node.attrs.get("src", ""))
            alt = _plain(node)
            return self.style.link(self.style.text(alt), alt, href)
        return self.style.text(node.content)

    def _marked(self, kind: str, nodes: list[SyntaxTreeNode]) -> str:
        self.open.add(kind)
        try:
            return self.inline(nodes)
        finally:
            self.open.discard(kind)


def _plain(node: SyntaxTreeNode) -> str:
    """The words of a span without any marks (a link label compared with its target, an image's alt text)."""
    if node.type in ("text", "code_inline"):
        return node.content
    if node.type in ("softbreak", "hardbreak"):
        return " "
    return "".join(_plain(child) for child in node.children)
