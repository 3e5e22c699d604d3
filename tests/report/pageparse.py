"""The parts of a report page the tests read: section ids, TOC links, tables (per section), images, URLs."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Page:
    sections: list[str] = field(default_factory=list)
    toc: list[str] = field(default_factory=list)
    tables: dict[str, list[dict]] = field(default_factory=dict)  # section id -> [{"header", "rows"}]
    images: list[str] = field(default_factory=list)
    folded: list[str] = field(default_factory=list)  # the images inside a <details> (shown once opened)
    legends: list[str] = field(default_factory=list)  # the <summary> lines of folded blocks
    captions: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)  # every src and href
    summary: list[str] = field(default_factory=list)


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.page = Page()
        self._section = None
        self._table = None
        self._row = None
        self._cell = None
        self._text = None  # collecting text of th / figcaption / summary li
        self._details = 0  # how many <details> the parser is inside
        self._summary = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href"):
            if key in a:
                self.page.urls.append(a[key])
        if tag == "section":
            self._section = a.get("id")
            self.page.sections.append(self._section)
        elif tag == "a" and self._section is None and a.get("href", "").startswith("#"):
            self.page.toc.append(a["href"][1:])
        elif tag == "table":
            self._table = {"header": [], "rows": []}
            self.page.tables.setdefault(self._section, []).append(self._table)
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag == "th":
            self._text = []
        elif tag == "td" and self._row is not None:
            self._cell = {"value": a.get("data-value"), "text": []}
        elif tag == "img":
            self.page.images.append(a.get("src", ""))
            if self._details:
                self.page.folded.append(a.get("src", ""))
        elif tag == "details":
            self._details += 1
        elif tag == "summary":
            self._summary = []
        elif tag == "figcaption" or (tag == "li" and self._section == "summary"):
            self._text = []

    def handle_endtag(self, tag):
        if tag == "details":
            self._details -= 1
        elif tag == "summary" and self._summary is not None:
            self.page.legends.append("".join(self._summary).strip())
            self._summary = None
        if tag == "section":
            self._section = None
        elif tag == "table":
            self._table = None
        elif tag == "th" and self._text is not None:
            self._table["header"].append("".join(self._text).strip())
            self._text = None
        elif tag == "td" and self._cell is not None:
            self._row.append((self._cell["value"], "".join(self._cell["text"]).strip()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:
                self._table["rows"].append(self._row)
            self._row = None
        elif tag == "figcaption" and self._text is not None:
            self.page.captions.append("".join(self._text).strip())
            self._text = None
        elif tag == "li" and self._section == "summary" and self._text is not None:
            self.page.summary.append("".join(self._text).strip())
            self._text = None

    def handle_data(self, data):
        if self._summary is not None:
            self._summary.append(data)
        if self._cell is not None:
            self._cell["text"].append(data)
        elif self._text is not None:
            self._text.append(data)


def parse(html: str) -> Page:
    parser = _Parser()
    parser.feed(html)
    return parser.page


def column(table: dict, name: str) -> list[tuple[str, str]]:
    """(data-value, text) of every row's cell under the header `name`."""
    index = table["header"].index(name)
    return [row[index] for row in table["rows"]]
