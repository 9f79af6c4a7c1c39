"""Escaped HTML, built from small functions. Every text argument is escaped unless it is `Markup` (made here, by
the functions below, or by `plots` from matplotlib's own SVG), so a caption `<script>...</script>` shows as text.

A page is one file with no network: the style sheet is inline, fonts are the reader's own, images are data: URIs,
and the only script sorts a table by a click on its header (the page reads the same without it) and opens the
collapsed sections before printing.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

from mediaeval_memo import __version__


class Markup(str):
    """A string that is already HTML (never built from unescaped data)."""

    __slots__ = ()


Content = str | Markup | Iterable["Content"] | None


def esc(value: object) -> Markup:
    """`value` as HTML text: markup characters and quotes escaped."""
    return value if isinstance(value, Markup) else Markup(html.escape(str(value), quote=True))


def join(parts: Content) -> Markup:
    if parts is None:
        return Markup("")
    if isinstance(parts, str):
        return esc(parts)
    return Markup("".join(join(p) for p in parts))


def tag(name: str, *children: Content, **attrs: object) -> Markup:
    """`<name attr="...">children</name>`; attribute names drop a trailing `_` (class_ -> class) and use `-` for
    `_`; None or False leaves an attribute out, True writes it bare."""
    rendered = []
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        key = key.rstrip("_").replace("_", "-")
        rendered.append(f" {key}" if value is True else f' {key}="{esc(value)}"')
    return Markup(f"<{name}{''.join(rendered)}>{join(children)}</{name}>")


def number(x: float | None, digits: int = 4) -> str:
    """The same text the terminal tables print (`evaluation.render.number`)."""
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def interval(low: float | None, high: float | None, digits: int = 4) -> str:
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return "n/a"
    return f"[{number(low, digits)},\u00a0{number(high, digits)}]"  # no line break inside an interval


def table(
    header: Sequence[Content],
    rows: Iterable[Sequence[Content]],
    *,
    numeric: Sequence[bool] | None = None,
    sortable: bool = True,
    caption: str | None = None,
    class_: str | None = None,
) -> Markup:
    """A table; `numeric[i]` right-aligns column i (and sorts it as numbers)."""
    numeric = numeric or [False] * len(header)
    head = tag("tr", (tag("th", h, class_="num" if n else None) for h, n in zip(header, numeric, strict=True)))
    body = [
        tag("tr", (tag("td", c, class_="num" if n else None) for c, n in zip(row, numeric, strict=True)))
        for row in rows
    ]
    classes = " ".join(c for c in ("sortable" if sortable else "", class_ or "") if c) or None
    return tag(
        "table",
        tag("caption", caption) if caption else None,
        tag("thead", head),
        tag("tbody", body),
        class_=classes,
    )


def key_values(pairs: Iterable[tuple[str, Content]]) -> Markup:
    return tag("dl", (Markup(tag("dt", k) + tag("dd", v)) for k, v in pairs), class_="kv")


def section(id_: str, title: str, *children: Content, intro: str | None = None) -> Markup:
    return tag("section", tag("h2", title), tag("p", intro, class_="intro") if intro else None, *children, id=id_)


def figure(body: Markup, caption: str | None = None) -> Markup:
    return tag("figure", body, tag("figcaption", caption) if caption else None)


def note(text: str) -> Markup:
    return tag("p", text, class_="note")


def details(summary: str, *children: Content, open_: bool = False) -> Markup:
    return tag("details", tag("summary", summary), *children, open=open_)


def pre(text: str) -> Markup:
    return tag("pre", text)


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image(data: bytes, mime: str, alt: str, *, width: int | None = None, class_: str | None = None) -> Markup:
    return Markup(
        f'<img src="{esc(data_uri(data, mime))}" alt="{esc(alt)}"'
        + (f' width="{width}"' if width else "")
        + (f' class="{esc(class_)}"' if class_ else "")
        + ">"
    )


STYLE = """
:root { --ink: #1d2430; --muted: #5b6573; --rule: #d7dce3; --accent: #3b6ea5; --bg-alt: #f5f7fa; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--ink); margin: 0 auto; max-width: 1100px; padding: 1.2rem 1.5rem 3rem; line-height: 1.45;
  font-size: 15px; background: #fff; }
h1 { font-size: 1.55rem; margin: 0.2rem 0 0.4rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 0.5rem; padding-bottom: 0.2rem; border-bottom: 2px solid var(--rule); }
h3 { font-size: 1.02rem; margin: 1.2rem 0 0.4rem; }
p.intro, p.note, .subtitle { color: var(--muted); }
p.note { font-size: 0.9rem; }
nav.toc { font-size: 0.9rem; margin: 0.6rem 0 0; }
nav.toc a { color: var(--accent); margin-right: 0.9rem; text-decoration: none; }
table { border-collapse: collapse; margin: 0.4rem 0 0.8rem; font-size: 0.9rem; }
caption { text-align: left; color: var(--muted); font-size: 0.85rem; padding-bottom: 0.2rem; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid var(--rule); vertical-align: top; text-align: left; }
th { border-bottom: 2px solid var(--ink); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) { background: var(--bg-alt); }
table.sortable th { cursor: pointer; }
.best { font-weight: 700; }
td.cap { max-width: 38rem; }
.headline { display: flex; flex-wrap: wrap; gap: 0.8rem; margin: 0.6rem 0; }
.headline div { border: 1px solid var(--rule); border-radius: 6px; padding: 0.5rem 0.9rem; min-width: 10rem; }
.headline b { display: block; font-size: 1.5rem; font-variant-numeric: tabular-nums; }
.headline span { color: var(--muted); font-size: 0.85rem; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 0.15rem 1rem; margin: 0.4rem 0; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; overflow-wrap: anywhere; }
code, pre, .sig { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace;
  font-size: 0.82rem; }
.sig { color: var(--muted); overflow-wrap: anywhere; }
pre { background: var(--bg-alt); padding: 0.6rem 0.8rem; overflow-x: auto; white-space: pre-wrap; }
figure { margin: 0.6rem 0; display: table; max-width: 100%; }
figure svg, figure img { max-width: 100%; height: auto; }
figcaption { display: table-caption; caption-side: bottom; color: var(--muted); font-size: 0.85rem; }
.grid { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
span.thumbs { display: inline-block; white-space: nowrap; }
img.thumb { height: 48px; width: auto; margin-right: 2px; border-radius: 2px; vertical-align: middle; }
details { margin: 0.4rem 0; }
summary { cursor: pointer; color: var(--accent); }
footer { margin-top: 2.5rem; color: var(--muted); font-size: 0.82rem; border-top: 1px solid var(--rule);
  padding-top: 0.5rem; }
@media print {
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  nav.toc, summary { display: none; }
  figure, tr, .headline { break-inside: avoid; }
  h2 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
  tbody tr:nth-child(even) { background: none; }
}
"""

# Sorting by a header click, and opening collapsed sections before printing; nothing on the page needs it.
SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (t) {
  t.querySelectorAll("thead th").forEach(function (th, i) {
    th.addEventListener("click", function () {
      var body = t.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var dir = th.dataset.dir === "asc" ? -1 : 1; th.dataset.dir = dir === 1 ? "asc" : "desc";
      var key = function (r) { var s = r.cells[i] ? r.cells[i].textContent.trim() : "";
        var x = parseFloat(s.replace(/^\\[/, "")); return isNaN(x) ? s.toLowerCase() : x; };
      rows.sort(function (a, b) { var x = key(a), y = key(b);
        return (typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === "number" ? -1 : 1)) * dir; });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
window.addEventListener("beforeprint", function () {
  document.querySelectorAll("details").forEach(function (d) { d.open = true; });
});
"""


def page(title: str, subtitle: str, sections: Sequence[tuple[str, str, Markup]], generated: str | None = None) -> str:
    """The whole document: a title, a table of contents, the sections (id, title, body) and a footer."""
    when = generated or datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    toc = tag("nav", (tag("a", name, href=f"#{sid}") for sid, name, _ in sections), class_="toc")
    body = [section(sid, name, content) for sid, name, content in sections]
    footer = tag("footer", f"Written by mediaeval-memo {__version__} (memo report) on {when}. One file, no network.")
    document = Markup(
        "<!DOCTYPE html>\n"
        + tag(
            "html",
            tag(
                "head",
                Markup('<meta charset="utf-8">'),
                Markup('<meta name="viewport" content="width=device-width, initial-scale=1">'),
                tag("title", title),
                tag("style", Markup(STYLE)),
            ),
            tag(
                "body",
                tag("header", tag("h1", title), tag("div", subtitle, class_="subtitle"), toc),
                tag("main", body),
                footer,
                tag("script", Markup(SCRIPT)),
            ),
            lang="en",
        )
        + "\n"
    )
    return str(document)
