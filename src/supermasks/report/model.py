"""What a report is made of: sections holding paragraphs, definitions, tables and figures (no HTML here)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Union


@dataclass(frozen=True)
class Cell:
    """A table cell: the text shown, and the value it sorts by (the full-precision number where there is one)."""

    text: str
    value: float | str | None = None

    @property
    def sort_key(self) -> str:
        """What the page's sorting reads (`data-value`): the number, or the text; empty when missing."""
        if self.value is None or (isinstance(self.value, float) and math.isnan(self.value)):
            return ""
        return repr(float(self.value)) if isinstance(self.value, (int, float)) else str(self.value)


@dataclass
class Table:
    """A table that sorts by clicking a header; `caption` says what a row is and what the cells mean."""

    caption: str
    header: list[str]
    rows: list[list[Cell]]
    wrap: bool = False  # long cells (a machine, a commit) wrap rather than widen the table past the page
    kind: str = "table"


@dataclass
class Figure:
    """An embedded image (`uri`: a data URI) with a caption saying what it shows and how to read it."""

    title: str
    caption: str
    uri: str
    kind: str = "figure"


@dataclass
class Paragraph:
    text: str
    kind: str = "paragraph"


@dataclass
class Heading:
    """A subheading within a section (one benchmark and method of a run)."""

    text: str
    kind: str = "heading"


@dataclass
class Definitions:
    """Terms and their definitions (a description list)."""

    items: dict[str, str]
    kind: str = "definitions"


@dataclass
class Code:
    """Preformatted text (a config file), folded away under `summary`."""

    summary: str
    text: str
    kind: str = "code"


@dataclass
class Details:
    """Blocks folded away under `summary` (figures a reader opens when wanted): the page stays short."""

    summary: str
    blocks: list = field(default_factory=list)  # Table, Figure, Paragraph, Heading, Definitions, Code
    kind: str = "details"


Block = Union[Table, Figure, Paragraph, Heading, Definitions, Code, Details]


@dataclass
class Section:
    """A section of the page, with its anchor `id`; a section without blocks is left out of the page."""

    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Report:
    """The whole page: a title, the plain-words summary (sentences), and the sections in order.

    A study's page opens with its `question` and `answer` (two or three sentences computed from the numbers),
    then the one `figure` that answers it, then the summary; a page without a question shows the summary, then
    its `figure` (several methods: their ACC with intervals)."""

    title: str
    summary: list[str]
    sections: list[Section]
    generated: str = ""
    question: str = ""
    answer: list[str] = field(default_factory=list)
    figure: Figure | None = None

    def shown(self) -> list[Section]:
        """The sections that have something to show."""
        return [s for s in self.sections if s.blocks]
