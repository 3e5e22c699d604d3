"""Figures into the page: a Matplotlib figure, or a PNG file a run saved, as a base64 data URI."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from matplotlib.figure import Figure

# Lower than the 120 dpi of saved figures: the page stays small (the default demo's report < 5 MB)
# and browsers scale the images to the column width anyway.
REPORT_DPI = 80


def figure_uri(fig: Figure, dpi: int = REPORT_DPI) -> str:
    """`fig` rendered as PNG into a `data:image/png;base64,...` URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def file_uri(path: Path) -> str:
    """A PNG file as a data URI."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")
