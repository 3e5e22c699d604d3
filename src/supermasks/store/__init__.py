"""Everything on disk: atomic files, run directories and their locks, per-task masks, resumable state.

`files` (atomic writes), `json_files` (JSON read back within bounds of size and nesting), `rundir` (a config's directory and its metadata), `lock` (one writer per
run directory), `masks` (compact per-task mask files), `blobs` (content-addressed tensors),
`state` (a method's `state_dict()` as tensors plus a JSON tree) and `checkpoints` (the checksummed
resumable state after each task; its files are `checkpoint_files`', its manifest `checkpoint_manifest`'s). Methods hand this package plain state dicts; nothing here
knows a method's internals.
"""
