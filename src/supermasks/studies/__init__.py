"""Studies built from runs: Experiment 1's overlap report, Experiment 2's transfer study, and the grid study.

`overlap` writes the mask-overlap tables and figures of one task sequence (Experiment 1, also
called by every run of a masked method). `transfer` is Experiment 2 (accuracy against training
budget for each way of starting a new task's scores). `grid` runs a study file of named parts and
grids of runs: Experiment 3 (task inference), the forgetting and the replay studies are such files
in `configs/`.
"""
