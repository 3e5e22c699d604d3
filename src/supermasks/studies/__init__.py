"""Studies built from many runs: Experiment 2's transfer study and the grid study of parts and grids.

`transfer` is Experiment 2 (accuracy against training budget for each way of starting a new
task's scores). `grid` runs a study file of named parts and grids of runs: Experiment 3 (task
inference), the forgetting and the replay studies are such files in `configs/`. Experiment 1 (does
mask overlap follow task relatedness?) is a grid study too (`configs/experiment1.yaml`): every run
of a masked method writes its overlap tables (`runner.overlap`), and `overlap` tests them against
the tasks' relatedness over the study's seeds.
"""
