"""Everything on disk: atomic files, run metadata and locks, content-addressed blobs, resumable state.

`files` (atomic writes), `json_files` (JSON read back within bounds of size and nesting), `rundir` (a run's metadata, meta.json; its directory's name is `config.records.run_directory`), `lock` (one writer per
run directory), `blobs` (content-addressed tensors),
`state` (a method's `state_dict()` as tensors plus a JSON tree) and `checkpoints` (the checksummed
resumable state after each task; its files are `checkpoint_files`', its manifest `checkpoint_manifest`'s). Methods hand this package plain state dicts; nothing here
knows a method's internals.
"""
