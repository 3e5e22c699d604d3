"""Your own network and data named in a config file by import path (`examples/own_config.yaml`), run from Python
as `supermasks run own_config.yaml` would run it (with this folder on the import path).

    python examples/from_config.py [OUT_DIR]
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # so that `own_package` imports, as PYTHONPATH=examples would do

import supermasks  # noqa: E402

out_dir = sys.argv[1] if len(sys.argv) > 1 else "runs"
config = supermasks.load_config(HERE / "own_config.yaml", [f"run.out_dir={out_dir}"])
result = supermasks.run(config, progress=False)
print(result.accuracy())
print(f"ACC {result.numbers()['ACC']:.3f}")
print(f"run directory: {result.directory}")
