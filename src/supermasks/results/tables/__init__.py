"""Markdown tables of README and docs, each rendered from one result's committed files under results/NAME/.

One module per page family: `baselines` (method comparison, forgetting), `overlap` (Experiment 1),
`transfer` (Experiment 2), `conv` (LeNet-5), `replay` (the replay study), `inference` (Experiment 3, NNs, HopSupSup, long sequences)
and `bench` (the benchmark scripts' measurements, each with the machine that made them);
`_format` holds what they share.
"""

from supermasks.results.tables._format import run_directories, study_directory
from supermasks.results.tables.baselines import (compare_printout, compare_table, forgetting_memory_table,
                                                 forgetting_table)
from supermasks.results.tables.bench import (colour_data_table, conv_resnet18_table, conv_resnet50_table,
                                             data_pipeline_table, fixed_costs_table, inference_table, parallel_tasks_table,
                                             precision_step_table,
                                             reference_table, seed_setting_table,
                                             splitimagenet_cost_table, state_bits_table, threads_table)
from supermasks.results.tables.conv import lenet5_table
from supermasks.results.tables.inference import (experiment3_table, hopsupsup_table, long_sequence_cost_table,
                                                 long_sequence_table, nns_table)
from supermasks.results.tables.precision import precision_table
from supermasks.results.tables.replay import (replay_five_tasks_table, replay_fraction_table, replay_seed_table,
                                              replay_selection_table)
from supermasks.results.tables.overlap import experiment1_layers_table, experiment1_study_table, experiment1_table
from supermasks.results.tables.transfer import (experiment2_budgets_table, experiment2_guided_table, experiment2_table,
                                                transfer_study_directory)

__all__ = ["colour_data_table", "conv_resnet18_table", "conv_resnet50_table", "data_pipeline_table",
           "fixed_costs_table", "inference_table", "parallel_tasks_table", "precision_step_table", "reference_table", "seed_setting_table", "splitimagenet_cost_table", "state_bits_table",
           "threads_table",
           "compare_printout", "compare_table", "experiment1_layers_table", "experiment1_study_table",
           "experiment1_table", "experiment2_budgets_table", "experiment2_guided_table", "experiment2_table",
           "experiment3_table", "forgetting_memory_table", "forgetting_table", "hopsupsup_table",
           "lenet5_table", "long_sequence_cost_table", "precision_table", "long_sequence_table", "nns_table", "replay_five_tasks_table", "replay_fraction_table",
           "replay_seed_table", "replay_selection_table", "run_directories", "study_directory", "transfer_study_directory"]
