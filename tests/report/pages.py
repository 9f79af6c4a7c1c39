"""Reading a written page back the way a browser would: with an HTML parser, not by searching the text."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

URL_ATTRIBUTES = {"src", "href", "xlink:href", "action", "formaction", "poster", "srcset", "data"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""  # every text inside it, descendants included
    children: list[Element] = field(default_factory=list)

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        out = []
        for child in self.children:
            if (tag is None or child.tag == tag) and all(
                v in child.attrs.get(k.rstrip("_"), "").split() for k, v in attrs.items()
            ):
                out.append(child)
            out.extend(child.find_all(tag, **attrs))
        return out

    def find(self, tag: str | None = None, **attrs: str) -> Element:
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag} {attrs}> on the page"
        return found[0]

    def by_id(self, id_: str) -> Element:
        found = [e for e in self.find_all() if e.attrs.get("id") == id_]
        assert len(found) == 1, f"{len(found)} elements with id {id_}"
        return found[0]

    def rows(self) -> list[list[str]]:
        """A table's body rows as lists of cell texts."""
        body = self.find("tbody")
        return [[" ".join(td.text.split()) for td in tr.children if td.tag == "td"] for tr in body.find_all("tr")]

    def header(self) -> list[str]:
        return [" ".join(th.text.split()) for th in self.find("thead").find_all("th")]


VOID = {"meta", "img", "br", "hr", "input", "link", "source", "wbr", "col", "area", "base", "embed", "param", "track"}


class _Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.handlers: list[tuple[str, str]] = []  # on* attributes

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        for k, v in values.items():
            if k in URL_ATTRIBUTES:
                self.urls.append((tag, k, v))
            if k.startswith("on"):
                self.handlers.append((tag, k))
        element = Element(tag, values)
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        for element in self.stack:
            element.text += data


@dataclass
class Page:
    root: Element
    urls: list[tuple[str, str, str]]
    handlers: list[tuple[str, str]]


def parse(text: str) -> Page:
    tree = _Tree()
    tree.feed(text)
    tree.close()
    return Page(tree.root, tree.urls, tree.handlers)


def off_page(page: Page) -> list[tuple[str, str, str]]:
    """Every URL that would reach outside the file: anything but an in-page anchor or a data: URI."""
    return [(t, k, v) for t, k, v in page.urls if not (v.startswith("#") or v.startswith("data:"))]
