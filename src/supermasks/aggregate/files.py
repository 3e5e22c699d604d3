"""The aggregate's tables on disk: CSV always, Parquet beside it when pyarrow is installed.

Both are written atomically (`store.files`). `read_table` reads either back with the tidy
table's types (`task` a nullable integer, `seed` an integer).
"""

from __future__ import annotations

import importlib.util
import io
import logging
from pathlib import Path

import pandas as pd

from supermasks.store.files import atomic_write_bytes, write_csv

log = logging.getLogger(__name__)

PARQUET_MISSING = ("Parquet tables not written: pyarrow is not installed (`pip install pyarrow`, or install "
                   "supermasks with the `parquet` extra); the CSV tables hold the same rows")


def parquet_available() -> bool:
    """True when pandas can write Parquet here (pyarrow is installed)."""
    return importlib.util.find_spec("pyarrow") is not None


def write_table(frame: pd.DataFrame, directory: Path, stem: str, *, parquet: bool = True) -> list[Path]:
    """`stem.csv`, and `stem.parquet` when `parquet` and pyarrow is there, in `directory`; the paths written."""
    directory = Path(directory)
    written = [directory / f"{stem}.csv"]
    write_csv(written[0], frame)
    if parquet and parquet_available():
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        atomic_write_bytes(directory / f"{stem}.parquet", buffer.getbuffer())
        written.append(directory / f"{stem}.parquet")
    return written


def read_table(path: Path) -> pd.DataFrame:
    """A table written by `write_table`, from its `.csv` or `.parquet` file."""
    path = Path(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    frame = pd.read_csv(path)
    if "task" in frame.columns:
        frame["task"] = frame["task"].astype("Int64")
    return frame
