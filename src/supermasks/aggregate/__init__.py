"""Many runs, one set of tables: results over seeds with confidence intervals.

`discover` finds run directories and their status, `tidy` turns one finished run into tidy rows,
`collect` gathers the rows of many runs, `summary` summarises every group over seeds (mean, std,
Student t interval), `paired` compares methods on the same seeds (paired t-test, Holm), `figures`
draws the intervals, `files` writes CSV and Parquet, `report` renders the tables as text, and
`build` ties them together (`aggregate_runs`, `write_aggregate`).
"""

from supermasks.aggregate.build import Aggregate, aggregate_runs, write_aggregate
from supermasks.aggregate.discover import Skipped, find_runs

__all__ = ["Aggregate", "Skipped", "aggregate_runs", "find_runs", "write_aggregate"]
