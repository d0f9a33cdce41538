"""python -m model.train and model.data: the data split and batches, the two-stage schedule, learning in
both precisions, determinism, resume equivalence, the divergence stop, one-line errors, the final export.

Every run is a few dozen steps of the small preset at batch 8 x 32 bytes on one thread, on a synthetic
text written here (a few words in random order), so that the tests run anywhere; one test checks that the
default data path, Tiny Shakespeare beside the repository, resolves.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from text_data import synthetic_text

from model import train as train_module
from model.bitnet_torch import BitNetLM, load_torch_checkpoint
from model.data import (
    DEFAULT_DATA,
    REPO_ROOT,
    TrainBatches,
    check_fits,
    load_corpus,
    sequences,
    split_bytes,
    validation_batches,
)
from model.export import WEIGHTS_FILE
from model.infer import load_model
from model.tokenizer import BOS_ID, VOCAB_SIZE, encode
from model.train import (
    CHECKPOINT_FILE,
    DIVERGED,
    LOG_COLUMNS,
    LOG_FILE,
    PEAK_LR,
    TrainConfig,
    TwoStageSchedule,
    build_parser,
    main,
    make_optimizer,
)

PROG = "python -m model.train"
#: Options of every test run: 30 steps of the small preset, evaluated every 10 steps.
TINY = [
    "--steps", "30", "--warmup-steps", "3", "--batch-size", "8", "--seq-len", "32",
    "--eval-every", "10", "--eval-batches", "4", "--threads", "1",
]  # fmt: skip
#: Columns of the log that do not depend on the machine's speed.
LOSS_COLUMNS = ("step", "lr", "weight_decay", "train_loss", "val_loss")


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "text.txt"
    path.write_text(synthetic_text())
    return path


def run(text_file, out, *options: str) -> int:
    return main(["--data", str(text_file), "--out", str(out), *TINY, *options])


def read_log(out) -> list[dict[str, str]]:
    with open(out / LOG_FILE, newline="") as handle:
        return list(csv.DictReader(handle))


def losses(out) -> list[tuple[str, ...]]:
    return [tuple(row[column] for column in LOSS_COLUMNS) for row in read_log(out)]


@pytest.fixture(scope="module")
def trained(text_file, tmp_path_factory):
    """{precision: output folder} of one finished tiny run per precision."""
    folders = {}
    for precision in ("b1.58", "fp"):
        out = tmp_path_factory.mktemp(f"run-{precision}")
        assert run(text_file, out, "--precision", precision) == 0
        folders[precision] = out
    return folders


# --- data --------------------------------------------------------------------------------------------------


def test_the_split_is_the_first_90_percent_and_the_last_10_percent_of_the_bytes():
    data = bytes(range(256)) * 4 + b"abcd"  # 1028 bytes
    train, validation = split_bytes(data)
    assert (train.size, validation.size) == (925, 103)
    assert train.tobytes() + validation.tobytes() == data and train.dtype == np.uint8


def test_a_sequence_is_bos_then_the_window_predicting_the_window():
    split = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    ids, targets = sequences(split, np.array([0, 8]), 4)
    assert targets.tolist() == [list(b"0123"), list(b"89ab")] and ids.dtype == np.int64
    assert ids[:, 0].tolist() == [BOS_ID, BOS_ID] and np.array_equal(ids[:, 1:], targets[:, :-1])


def test_training_batches_visit_every_window_once_per_epoch_and_resume_from_their_position():
    split = np.frombuffer(synthetic_text(40).encode(), dtype=np.uint8)
    batches = TrainBatches(split, 4, 16, seed=3)
    per_epoch = batches.batches_per_epoch(0)
    epoch = [next(batches) for _ in range(per_epoch)]
    starts = np.concatenate([targets for _, targets in epoch])
    assert len({row.tobytes() for row in starts}) == len(starts) == 4 * per_epoch  # no window twice
    assert batches.position() == {"epoch": 0, "batch": per_epoch}
    following = [next(batches) for _ in range(3)]
    assert batches.position() == {"epoch": 1, "batch": 3}
    assert not np.array_equal(following[0][1], epoch[0][1])  # a new offset and order
    again = TrainBatches(split, 4, 16, seed=3, epoch=0, batch=per_epoch)
    for (ids, targets), (ids_again, targets_again) in zip(
        following, [next(again) for _ in range(3)], strict=True
    ):
        assert np.array_equal(ids, ids_again) and np.array_equal(targets, targets_again)
    other = TrainBatches(split, 4, 16, seed=4)
    assert not np.array_equal(next(other)[1], epoch[0][1])


def test_the_validation_set_is_fixed_and_capped_at_eval_batches():
    split = np.frombuffer(synthetic_text(20).encode(), dtype=np.uint8)
    batches = validation_batches(split, 4, 16, 2)
    assert len(batches) == 2 and all(targets.shape == (4, 16) for _, targets in batches)
    assert batches[1][1][0].tolist() == split[64:80].tolist()
    every = validation_batches(split, 4, 16, 1000)
    assert sum(len(targets) for _, targets in every) == split.size // 16


def test_the_default_data_path_is_tiny_shakespeare_beside_the_repository():
    assert DEFAULT_DATA == REPO_ROOT.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"
    assert build_parser().get_default("data") == DEFAULT_DATA == TrainConfig().data
    assert "../shared/data/tinyshakespeare/input.txt" in build_parser().format_help().replace("\n", "")
    if not DEFAULT_DATA.is_file():
        pytest.skip(f"Tiny Shakespeare is not on this machine ({DEFAULT_DATA} is absent)")
    corpus = load_corpus(DEFAULT_DATA)
    assert corpus.train.size == corpus.size * 9 // 10 and corpus.validation.size > 100_000
    check_fits(corpus, 32, 128)


# --- the recipe --------------------------------------------------------------------------------------------


def test_the_schedule_warms_up_then_decays_in_two_stages_with_weight_decay_only_in_the_first():
    schedule = TwoStageSchedule(steps=100, warmup_steps=10, peak_lr=1.5e-3, weight_decay=0.1)
    lrs = [schedule.lr(step) for step in range(1, 101)]
    assert lrs[0] == pytest.approx(1.5e-4) and lrs[9] == lrs[10] == pytest.approx(1.5e-3)
    assert np.all(np.diff(lrs[:10]) > 0)  # warmup: linear rise
    stage_one, stage_two = lrs[10:55], lrs[55:]  # 45 steps each
    assert np.all(np.diff(stage_one) < 0) and stage_one[-1] > 0.75e-3
    assert stage_one[-1] == pytest.approx(0.75e-3, rel=0.01)  # cosine down to half the peak
    assert stage_two[0] == pytest.approx(5e-4) and np.all(np.diff(stage_two) < 0)
    assert 0 < stage_two[-1] < 1e-6  # near zero at the last step
    decays = [schedule.weight_decay_at(step) for step in range(1, 101)]
    assert decays == [0.1] * 55 + [0.0] * 45
    with pytest.raises(ValueError, match=r"step must be in \[1, 100\]"):
        schedule.lr(0)


def test_adamw_decays_the_matrices_only_and_takes_each_steps_values():
    config = TrainConfig(steps=100, warmup_steps=10)
    model = BitNetLM(config.model_config())
    optimizer = make_optimizer(model, config)
    decaying, plain = optimizer.param_groups
    assert all(p.ndim == 2 for p in decaying["params"]) and all(p.ndim == 1 for p in plain["params"])
    assert len(decaying["params"]) + len(plain["params"]) == len(list(model.parameters()))
    assert decaying["betas"] == (0.9, 0.95) and decaying["eps"] == 1e-8
    schedule = config.schedule()
    assert schedule.apply(optimizer, 20) == (schedule.lr(20), 0.1)
    assert (decaying["weight_decay"], plain["weight_decay"], plain["lr"]) == (0.1, 0.0, schedule.lr(20))
    schedule.apply(optimizer, 90)
    assert decaying["weight_decay"] == 0.0 and decaying["lr"] == schedule.lr(90)


def test_the_peak_learning_rate_depends_on_the_precision_unless_given():
    assert TrainConfig().peak_lr == PEAK_LR["b1.58"] == 1.5e-3
    assert TrainConfig(precision="fp").peak_lr == PEAK_LR["fp"] == 1e-3
    assert TrainConfig(precision="fp", lr=3e-3).run_fields()["lr"] == 3e-3


def test_every_config_field_is_an_option_with_its_default():
    parser = build_parser()
    for field in dataclasses.fields(TrainConfig):
        option = "--" + field.name.replace("_", "-")
        assert option in parser.format_help(), option
        assert parser.get_default(field.name) == field.default
    args = parser.parse_args(["--batch-size", "4", "--precision", "fp", "--resume", "--stop-at", "7"])
    assert (args.batch_size, args.precision, args.resume, args.stop_at) == (4, "fp", True, 7)


# --- training ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("precision", ["b1.58", "fp"])
def test_thirty_steps_lower_the_validation_loss_in_both_precisions(trained, precision, capsys):
    rows = read_log(trained[precision])
    assert [int(row["step"]) for row in rows] == list(range(1, 31))
    assert list(rows[0]) == list(LOG_COLUMNS)
    val = [float(row["val_loss"]) for row in rows if row["val_loss"]]
    assert len(val) == 3  # steps 10, 20, 30
    assert val[0] > val[1] > val[2] and val[2] < 0.65 * math.log(VOCAB_SIZE)  # uniform: ln 258 = 5.55
    assert all(float(row["tokens_per_s"]) > 0 for row in rows)
    elapsed = [float(row["elapsed"]) for row in rows]
    assert elapsed == sorted(elapsed)
    checkpoint = load_torch_checkpoint(trained[precision] / CHECKPOINT_FILE)
    assert checkpoint[0].config.precision == precision and checkpoint[1]["step"] == 30


def test_the_command_prints_evaluations_and_the_final_loss_in_nats_and_bits(text_file, tmp_path, capsys):
    assert run(text_file, tmp_path / "out", "--steps", "10", "--eval-every", "5") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("step 5/10: train ") and "tokens/s" in lines[0] and "bits/byte" in lines[0]
    final = float(lines[-1].split("final validation loss ")[1].split(" nats/byte")[0])
    bits = float(lines[-1].split(", ")[1].split(" bits/byte")[0])
    assert bits == pytest.approx(final / math.log(2), abs=2e-4)  # both printed to 4 decimals
    assert lines[-1].endswith(str(tmp_path / "out" / "model"))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [CHECKPOINT_FILE, LOG_FILE, "model"]


def test_the_same_command_twice_gives_bit_identical_losses_and_weights(trained, text_file, tmp_path):
    assert run(text_file, tmp_path / "again") == 0
    assert losses(tmp_path / "again") == losses(trained["b1.58"])
    weights = (tmp_path / "again" / "model" / WEIGHTS_FILE).read_bytes()
    assert weights == (trained["b1.58"] / "model" / WEIGHTS_FILE).read_bytes()
    assert run(text_file, tmp_path / "seed", "--seed", "1", "--steps", "10") == 0
    assert losses(tmp_path / "seed")[0] != losses(trained["b1.58"])[0]


@pytest.mark.parametrize("stop_at", [10, 17])
def test_a_run_stopped_and_resumed_equals_the_run_that_never_stopped(trained, text_file, tmp_path, stop_at):
    """Stopped on an evaluation step and between two: the resumed run's log and weights are the full run's,
    bit for bit."""
    out = tmp_path / "out"
    assert run(text_file, out, "--stop-at", str(stop_at)) == 0
    assert not (out / "model").exists() and len(read_log(out)) == stop_at
    assert losses(out) == losses(trained["b1.58"])[:stop_at]
    assert run(text_file, out, "--resume") == 0
    assert losses(out) == losses(trained["b1.58"])
    assert (out / "model" / WEIGHTS_FILE).read_bytes() == (
        trained["b1.58"] / "model" / WEIGHTS_FILE
    ).read_bytes()
    resumed, extra = load_torch_checkpoint(out / CHECKPOINT_FILE)
    full, full_extra = load_torch_checkpoint(trained["b1.58"] / CHECKPOINT_FILE)
    for name, value in full.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name
    assert extra["data_position"] == full_extra["data_position"]
    first, second = float(read_log(out)[0]["elapsed"]), float(read_log(out)[-1]["elapsed"])
    assert second > first  # elapsed runs on over the two sessions


def test_a_run_stopped_in_one_process_resumes_in_another_to_the_same_bits(trained, text_file, tmp_path):
    """The first half through ``python -m model.train`` in a child process, the rest here."""
    out = tmp_path / "out"
    command = [sys.executable, "-m", "model.train", "--data", str(text_file), "--out", str(out), *TINY]
    child = subprocess.run([*command, "--stop-at", "15"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert child.returncode == 0, child.stderr
    assert child.stdout.splitlines()[-1] == f"stopped at step 15 of 30: --resume continues from {out}"
    assert run(text_file, out, "--resume") == 0
    assert losses(out) == losses(trained["b1.58"])


def test_resuming_a_finished_run_exports_it_again_without_training(trained, text_file, tmp_path, capsys):
    out = tmp_path / "done"
    assert run(text_file, out, "--steps", "5", "--eval-every", "5") == 0
    before = losses(out)
    assert run(text_file, out, "--steps", "5", "--eval-every", "5", "--resume") == 0
    assert losses(out) == before and (out / "model" / WEIGHTS_FILE).is_file()


def test_a_nan_loss_stops_the_run_naming_the_step(text_file, tmp_path, monkeypatch, capsys):
    """Forced at the 7th training step (evaluation keeps real losses): exit 1, one line, the checkpoint
    of step 5 kept."""
    real_loss, calls = BitNetLM.loss, []

    def loss(self, ids, targets):
        value = real_loss(self, ids, targets)
        if self.training:
            calls.append(1)
            if len(calls) == 7:
                return value * float("nan")
        return value

    monkeypatch.setattr(BitNetLM, "loss", loss)
    assert run(text_file, tmp_path / "out", "--eval-every", "5") == DIVERGED
    error = capsys.readouterr().err
    assert error == f"{PROG}: error: training diverged: loss nan at step 7 (last checkpoint: step 5)\n"
    assert load_torch_checkpoint(tmp_path / "out" / CHECKPOINT_FILE)[1]["step"] == 5
    assert not (tmp_path / "out" / "model").exists()


@pytest.mark.parametrize("precision", ["b1.58", "fp"])
def test_a_huge_learning_rate_diverges_to_a_one_line_stop(text_file, tmp_path, precision, capsys):
    assert run(text_file, tmp_path / "out", "--precision", precision, "--lr", "1e30") == DIVERGED
    error = capsys.readouterr().err
    assert error.startswith(f"{PROG}: error: training diverged: loss nan at step ") and error.count("\n") == 1


def test_the_exported_model_loads_in_the_golden_inference_and_generates_the_texts_bytes(trained):
    model = load_model(trained["b1.58"] / "model")
    assert model.config.precision == "b1.58" and model.config.hidden_size == 128
    prompt = encode("the quick", bos=True)
    ids = model.generate(prompt, 40)
    new = ids[len(prompt) :]
    assert len(new) == 40 and all(0 <= token < 256 for token in new)
    alphabet = set(synthetic_text().encode())
    assert sum(token in alphabet for token in new) >= 36  # it learned the text's letters
    fp = load_model(trained["fp"] / "model")
    assert fp.config.precision == "fp" and len(fp.generate(prompt, 10)) == len(prompt) + 10


# --- bad input ---------------------------------------------------------------------------------------------


def _one_line_error(capsys, expected: str) -> str:
    error = capsys.readouterr().err
    assert error.startswith(f"{PROG}: error: ") and error.count("\n") == 1, error
    assert expected in error, error
    assert "Traceback" not in error
    return error


def test_a_missing_data_file_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run(tmp_path / "absent.txt", tmp_path / "out")
    assert exit_info.value.code == 2
    _one_line_error(capsys, f"data: no file at {tmp_path / 'absent.txt'}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("content", "batch_size", "message"),
    [
        (b"", 8, "is empty"),
        (
            b"to be or not to be " * 8,
            8,
            "the training split (first 90%, 136 bytes) is too short for one batch",
        ),
        (b"x" * 320, 1, "the validation split (last 10%, 32 bytes) is shorter than one sequence"),
    ],
    ids=["empty", "short", "no-validation"],
)
def test_an_empty_or_short_data_file_is_a_one_line_error(tmp_path, capsys, content, batch_size, message):
    """At 33 bytes per sequence: 152 bytes hold 3 windows of training, not a batch of 8; 320 bytes hold
    32 bytes of validation."""
    path = tmp_path / "text.txt"
    path.write_bytes(content)
    with pytest.raises(SystemExit) as exit_info:
        run(path, tmp_path / "out", "--batch-size", str(batch_size), "--seq-len", "33")
    assert exit_info.value.code == 2
    _one_line_error(capsys, message)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--steps", "0"], "argument --steps: must be >= 1, got 0"),
        (["--warmup-steps", "30"], "warmup_steps=30 must be less than steps=30"),
        (["--seq-len", "300"], "seq_len=300 exceeds the model's context of 256 positions"),
        (["--stop-at", "31"], "stop_at=31 must be in [1, steps=30]"),
        (["--lr", "0"], "argument --lr: must be a finite number > 0, got 0"),
        (["--precision", "int4"], "argument --precision: invalid choice: 'int4'"),
    ],
)
def test_bad_options_are_one_line_errors(text_file, tmp_path, capsys, options, message):
    with pytest.raises(SystemExit) as exit_info:
        run(text_file, tmp_path / "out", *options)
    assert exit_info.value.code == 2
    _one_line_error(capsys, message)


def test_resume_errors_name_the_problem(trained, text_file, tmp_path, capsys):
    with pytest.raises(SystemExit):
        run(text_file, tmp_path / "empty", "--resume")
    _one_line_error(capsys, f"resume: no {CHECKPOINT_FILE} in {tmp_path / 'empty'}")
    with pytest.raises(SystemExit):
        run(text_file, trained["b1.58"])
    _one_line_error(capsys, "already holds a training run (checkpoint.pt): --resume continues it")
    with pytest.raises(SystemExit):
        run(text_file, trained["b1.58"], "--resume", "--lr", "3e-3")
    _one_line_error(capsys, "resume: the checkpoint's run has --lr 0.0015, not 0.003")
    other = tmp_path / "other.txt"
    other.write_text(synthetic_text(seed=1))
    with pytest.raises(SystemExit):
        run(other, trained["b1.58"], "--resume")
    _one_line_error(capsys, "resume: --data is not the file the checkpoint was trained on")


def test_the_library_rejects_a_bad_config_naming_the_field():
    with pytest.raises(ValueError, match="size must be one of"):
        TrainConfig(size="huge")
    with pytest.raises(TypeError, match="batch_size must be an int"):
        TrainConfig(batch_size=2.0)
    with pytest.raises(ValueError, match="weight_decay must be a finite number >= 0.0"):
        TrainConfig(weight_decay=-1.0)
    with pytest.raises(TypeError, match="config must be a TrainConfig"):
        train_module.prepare({"steps": 3})
