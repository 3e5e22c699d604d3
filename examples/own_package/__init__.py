"""A package of your own, named by import path in `examples/own_config.yaml` (see examples/from_config.py)."""
