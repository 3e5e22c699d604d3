"""The Python API, as strong as the command line: every kind of config file loads (`load_config`) and runs
(`run`, which writes report.html as `supermasks run` does), and a finished run loads back as a model ready to
predict (`load`).

    import supermasks
    config = supermasks.load_config("supsup", ["data.num_tasks=3"])  # a shipped name or a path
    result = supermasks.run(config)
    result.accuracy()                      # R as a DataFrame
    model = supermasks.load(result.directory)
    model.predict(x, task_id=None)         # the task inferred from x
"""

from __future__ import annotations

from supermasks.api.kinds import Seeds, load_config
from supermasks.api.running import StudyResult, TransferResult, run
from supermasks.api.trained import Trained, load

__all__ = ["Seeds", "StudyResult", "TransferResult", "Trained", "load", "load_config", "run"]
