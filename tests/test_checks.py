"""Flags refused before any work, through the commands: absl's own flag
errors (unknown, wrong type, not a choice, missing, below a bound,
positional arguments), the training settings of `train/checks.py` and the
output paths of `files.check_output_path`. Each case is a row of
docs/errors.md (`bad_inputs.assert_refused`: exit status 2, one line
naming the flag, no traceback, nothing written)."""

import os

import pytest

from bad_inputs import Case, assert_refused, arg_value, named, train_flag

def _not_writable(i, args) -> str:
  path = arg_value("--output_dir=")(i, args)
  return (f"--output_dir={path}: the folder {os.path.dirname(path)} is not "
          "writable")


CASES = [
    # --- flags, as absl parses them
    train_flag("unknown_flag", "--learnig_rate=1", "'learnig_rate'"),
    train_flag("flag_value_not_a_number", "--train_batch_size=lots",
                "--train_batch_size=lots"),
    train_flag("flag_value_not_a_choice", "--optimizer=sgd",
                "--optimizer=sgd"),
    Case("required_flag_missing", "train",
         lambda i: [a for a in i.train_args() if "--data_dir" not in a],
         "flag", named("Flag --data_dir must have a value")),
    train_flag("positional_argument", "chemprot",
                "unexpected arguments: chemprot"),
    Case("flag_below_bound", "extract_features",
         lambda i: i.features_args("--batch_size=0"), "flag",
         named("--batch_size=0")),
    # --- flags, as the training commands check them before any work
    train_flag("batch_size_not_positive", "--train_batch_size=0",
                "--train_batch_size must be > 0, got 0"),
    train_flag("epochs_not_positive", "--num_train_epochs=0",
                "--num_train_epochs must be > 0"),
    train_flag("max_steps_not_positive", "--max_steps=-5",
                "--max_steps must be > 0, got -5", "finetune"),
    train_flag("checkpoint_cadence_not_positive", "--save_checkpoints_steps=0",
                "--save_checkpoints_steps must be > 0"),
    train_flag("logging_cadence_not_positive", "--log_every_steps=0",
                "--log_every_steps must be > 0"),
    train_flag("learning_rate_negative", "--learning_rate=-1e-5",
                "--learning_rate must be >= 0, got -1e-05"),
    train_flag("warmup_outside_0_1", "--warmup_proportion=1.5",
                "--warmup_proportion must be in [0, 1], got 1.5"),
    Case("more_micro_batches_than_rows", "train",
         lambda i: i.train_args("--train_batch_size=4",
                                "--gradient_accumulation_steps=8"), "flag",
         named("--gradient_accumulation_steps=8 is more than "
               "--train_batch_size=4")),
    train_flag("task_named_twice", "--tasks=chemprot,hoc,chemprot",
                "--tasks names a task twice: chemprot,hoc,chemprot"),
    Case("max_seq_length_above_positions", "train",
         lambda i: i.train_args("--max_seq_length=1024"), "flag",
         lambda i, args: f"--max_seq_length=1024 must be in [3, 512] "
                         f"(max_position_embeddings of {i.bert}/"
                         "bert_config.json)"),
    train_flag("loss_weight_not_a_number", "--loss_weights=chemprot=heavy",
                "--loss_weights: 'chemprot=heavy'"),
    Case("output_dir_is_a_file", "train",
         lambda i: i.train_args(f"--output_dir={i.file('taken')}"), "flag",
         lambda i, args: f"--output_dir={i.tmp / 'taken'} is a file"),
    Case("output_dir_not_writable", "train",
         lambda i: i.train_args(
             f"--output_dir={i.unwritable_folder()}/run"), "flag",
         _not_writable),
    Case("cache_dir_is_a_file", "train",
         lambda i: i.train_args(f"--cache_dir={i.file('cache')}"), "flag",
         lambda i, args: f"--cache_dir={i.tmp / 'cache'} is a file"),
    train_flag("seeds_not_integers", "--seeds=1,two", "--seeds", "finetune"),
    Case("export_dir_under_a_file", "export",
         lambda i: i.export_args()[:1] + [f"--export_dir={i.file('f')}/models"],
         "flag", lambda i, args: f"lies under the file {i.tmp / 'f'}"),
    Case("output_file_is_a_folder", "extract_features",
         lambda i: i.features_args(f"--output_file={i.tmp}"), "flag",
         lambda i, args: f"--output_file={i.tmp} is a folder"),
    Case("predict_output_file_is_a_folder", "predict",
         lambda i: i.predict_args(f"--output_file={i.tmp}"), "flag",
         lambda i, args: f"--output_file={i.tmp} is a folder"),
    Case("predict_max_seq_length_above_positions", "predict",
         lambda i: i.predict_args("--max_seq_length=600"), "flag",
         lambda i, args: f"--max_seq_length=600 must be in [3, 512] "
                         f"(max_position_embeddings of {i.run}/"
                         "bert_config.json)"),
    Case("input_dir_not_a_folder", "convert_checkpoint",
         lambda i: [f"--input_dir={i.tmp / 'hf'}",
                    f"--output_dir={i.tmp / 'tf1'}"], "flag",
         lambda i, args: f"--input_dir={i.tmp / 'hf'} is not a folder"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_flag_is_refused_before_any_work(case, run_command, tiny_bert_dir,
                                         tmp_path):
  assert_refused(case, run_command, tiny_bert_dir, tmp_path)
