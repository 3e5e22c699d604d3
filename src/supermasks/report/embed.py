"""Figures into the page: a Matplotlib figure, or a PNG file a run saved, as a base64 data URI."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from matplotlib.figure import Figure

# Lower than the 120 dpi of saved figures: the page stays small (the default demo's report < 5 MB)
# and browsers scale the images to the column width anyway.
REPORT_DPI = 80


PALETTE_COLOURS = 256  # a plot's few colours and their anti-aliasing fit a palette: a third of the bytes


def figure_uri(fig: Figure, dpi: int = REPORT_DPI) -> str:
    """`fig` rendered as a palette PNG (`PALETTE_COLOURS` colours) into a `data:image/png;base64,...` URI."""
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    buffer.seek(0)
    image = Image.open(buffer).convert("RGB").quantize(colors=PALETTE_COLOURS, method=Image.Quantize.FASTOCTREE)
    small = io.BytesIO()
    image.save(small, format="png")
    return "data:image/png;base64," + base64.b64encode(small.getvalue()).decode("ascii")


def file_uri(path: Path) -> str:
    """A PNG file as a data URI."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")
