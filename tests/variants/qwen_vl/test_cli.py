"""qwen-vl through the command line on the Memento10k sample with tiny random 4-bit models, on CPU: two training
steps in each head mode, predictions for every test video, zero-shot, kill-and-resume, and the error paths."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from mediaeval_memo.cli import cli
from mediaeval_memo.data.items import PreparedDataset
from tests.report.pages import parse


def _train(data: Path, out: Path, cache: Path, head: str, *extra: str) -> list[str]:
    return [
        "train", "qwen-vl", "--data", str(data), "--model", "tiny-random-qwen2.5-vl", "--head", head,
        "--max-steps", "2", "--set", "image_size=56", "--set", f"cache_dir={cache}", "--out", str(out), *extra,
    ]  # fmt: skip


def _test_ids(data: Path) -> list[str]:
    return PreparedDataset.load(data).split("test")["video_id"].tolist()


def test_generate_head_trains_cross_validates_and_predicts(sample_memento10k: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "run"
    result = runner.invoke(cli, _train(sample_memento10k, out, tmp_path / "cache", "generate", "--folds", "0"))
    assert result.exit_code == 0, result.output
    assert "out-of-fold Spearman" in result.output
    cv = json.loads((out / "cv.json").read_text())
    assert list(cv["folds"]) == ["0"] and cv["n"] == 40
    for name in ("scatter.png", "best_worst.csv", "best_worst.md"):
        assert (out / "error_analysis" / name).is_file()
    table = pd.read_csv(out / "error_analysis" / "best_worst.csv")
    assert set(table["group"]) == {"best", "worst"} and table["captions"].str.len().min() > 0
    assert json.loads((out / "model" / "qwen_vl.json").read_text())["config"]["head"] == "generate"
    # what the model read: the first training video's prompt, in the model's own chat template
    seen = (out / "prompt_example.txt").read_text()
    assert seen.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nYou are an")
    assert seen.count("<|vision_start|><|image_pad|>*") == 3 and seen.endswith("<|im_start|>assistant\n")
    # its report page: the fold's invalid answers by reason, its training curves and the prompt, from the hook
    fit = json.loads((out / "folds" / "fold_0" / "fit.json").read_text())["report"]
    assert fit["answers"]["n"] == 40 and fit["history"]
    page = tmp_path / "report.html"
    result = runner.invoke(cli, ["report", str(out), "--out", str(page), "--bootstrap", "200"])
    assert result.exit_code == 0, result.output
    variant = parse(page.read_text()).root.by_id("variant")
    answers = [t for t in variant.find_all("table") if t.header()[:2] == ["fit", "answers"]]
    assert answers and answers[0].rows()[0][:2] == ["fold 0", "40"]
    assert sum(int(c) for c in answers[0].rows()[0][2:5]) == sum(fit["answers"]["invalid"].values())
    assert "training loss" in variant.text and "prompt_example.txt" in variant.text

    preds = tmp_path / "preds.csv"
    result = runner.invoke(
        cli, ["predict", "--model", str(out), "--data", str(sample_memento10k), "--split", "test", "--out", str(preds)]
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(preds, dtype={"video_id": str})
    assert frame["video_id"].tolist() == _test_ids(sample_memento10k)
    assert frame["score"].between(0, 1).all()
    # the reloaded model predicts exactly what the trained one did
    assert preds.read_text() == (out / "predictions_test.csv").read_text()
    assert (tmp_path / "prompt_example.txt").read_text().count("<|image_pad|>*") == 3


@pytest.mark.parametrize("head", ["head", "expected"])
def test_head_and_expected_train_and_predict(sample_memento10k: Path, tmp_path: Path, head: str) -> None:
    runner = CliRunner()
    out = tmp_path / "run"
    result = runner.invoke(cli, _train(sample_memento10k, out, tmp_path / "cache", head, "--folds", "none"))
    assert result.exit_code == 0, result.output
    preds = tmp_path / "preds.csv"
    result = runner.invoke(
        cli, ["predict", "--model", str(out), "--data", str(sample_memento10k), "--split", "test", "--out", str(preds)]
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(preds, dtype={"video_id": str})
    assert frame["video_id"].tolist() == _test_ids(sample_memento10k)
    assert frame["score"].notna().all()


def test_zero_shot_reports_invalid_rate_and_spearman(sample_memento10k: Path, tmp_path: Path) -> None:
    preds = tmp_path / "zero.csv"
    result = CliRunner().invoke(
        cli,
        [
            "predict", "--model", "tiny-random-qwen2-vl", "--zero-shot", "--data", str(sample_memento10k),
            "--split", "dev", "--out", str(preds), "--set", "image_size=56", "--set", f"cache_dir={tmp_path / 'c'}",
            "--set", "quantization=none",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    # invalid answers by reason (the random tiny model rambles past the 32-token limit: truncated)
    assert re.search(
        r"invalid answers: \d+ of 40 \(\d+\.\d%\): no number \d+, out of range \d+, truncated \d+", result.output
    )
    assert "Spearman on dev: " in result.output
    assert len(pd.read_csv(preds)) == 40
    assert (tmp_path / "zero_error_analysis" / "scatter.png").is_file()
    assert (tmp_path / "prompt_example.txt").read_text().startswith("<|im_start|>system\nYou are a helpful assistant.")


def test_killed_run_resumes_to_the_uninterrupted_weights(
    sample_memento10k: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mediaeval_memo.variants.qwen_vl.net import Scorer

    extra = ("--folds", "none", "--max-steps", "4", "--set", "checkpoint_every=1", "--set", "lora_r=4")
    runner = CliRunner()
    straight = tmp_path / "straight"
    assert runner.invoke(cli, _train(sample_memento10k, straight, tmp_path / "c", "generate", *extra)).exit_code == 0

    forward = Scorer.forward
    calls = {"n": 0}

    def dies_at_third_step(self: Scorer, batch: dict) -> object:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # what a kill looks like to Python
        return forward(self, batch)

    killed = tmp_path / "killed"
    monkeypatch.setattr(Scorer, "forward", dies_at_third_step)
    result = runner.invoke(cli, _train(sample_memento10k, killed, tmp_path / "c", "generate", *extra))
    assert result.exit_code != 0 and not (killed / "model").exists()
    state = json.loads((killed / "final" / "work" / "checkpoint" / "state.json").read_text())
    assert state["global_step"] == 2 and not state["finished"]

    monkeypatch.setattr(Scorer, "forward", forward)
    result = runner.invoke(cli, _train(sample_memento10k, killed, tmp_path / "c", "generate", *extra, "--resume"))
    assert result.exit_code == 0, result.output
    assert "resuming from" in result.output
    assert (killed / "model" / "trainable.safetensors").read_bytes() == (
        straight / "model" / "trainable.safetensors"
    ).read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--head", "regress"],
            "error: command line: head 'regress': expected one of 'generate', 'head', 'expected'\n",
        ),
        (
            ["--set", "image_size=50"],
            "error: command line: image_size 50: must be a multiple of 28 (Qwen2/2.5-VL) or 32 (Qwen3-VL)\n",
        ),
        (
            ["--set", "lora_targets=.*nothing"],
            "error: config: lora_targets '.*nothing': matches no linear layer of tiny-random-qwen2.5-vl; some that "
            "exist: model.visual.blocks.0.attn.qkv, model.visual.blocks.0.attn.proj, "
            "model.visual.blocks.0.mlp.gate_proj\n",
        ),
        (["--grid", "rank=2,4"], None),
    ],
)
def test_train_errors_exit_1_with_one_line(
    sample_memento10k: Path, tmp_path: Path, args: list[str], message: str | None
) -> None:
    base = _train(sample_memento10k, tmp_path / "o", tmp_path / "c", "generate", "--folds", "none")
    result = CliRunner().invoke(cli, [a for a in base if a not in ("--head", "generate")] + args)
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines(keepends=True) if line.startswith("error:")]
    assert len(errors) == 1 and result.output.endswith(errors[0])
    if message is not None:
        assert errors[0] == message
    else:
        assert errors[0].startswith("error: command line: --grid 'rank=2,4': unknown config field 'rank' (known: ")


def test_missing_frames_are_an_input_error(sample_memento10k: Path, tmp_path: Path) -> None:
    import shutil

    data = tmp_path / "data"
    shutil.copytree(sample_memento10k, data)
    victim = PreparedDataset.load(data).split("train")["video_id"].iloc[0]
    shutil.rmtree(data / "frames" / victim)
    result = CliRunner().invoke(cli, _train(data, tmp_path / "o", tmp_path / "c", "generate", "--folds", "none"))
    assert result.exit_code == 1
    assert result.output.endswith(
        f"error: {data / 'frames' / victim}: video_id '{victim}': video has no prepared frames; "
        "run `memo prepare ... --frames 3`\n"
    )


def test_zero_shot_errors(sample_memento10k: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    base = [
        "predict",
        "--model",
        "tiny-random-qwen2-vl",
        "--data",
        str(sample_memento10k),
        "--out",
        str(tmp_path / "p.csv"),
    ]
    result = runner.invoke(cli, [*base, "--zero-shot", "--head", "head"])
    assert result.exit_code == 1
    assert result.output == (
        "error: --zero-shot: head 'head': the regression head needs training; use generate or expected\n"
    )
    result = runner.invoke(cli, [*base, "--head", "expected"])
    assert result.exit_code == 2 and "--variant, --head and --set apply to --zero-shot only" in result.output
    # Zero-shot is a capability a variant has or lacks: gbt lacks it, and says which variants have it.
    result = runner.invoke(cli, [*base, "--zero-shot", "--variant", "gbt"])
    assert result.exit_code == 1
    assert result.output == (
        "error: --zero-shot: --variant 'gbt': variant gbt cannot predict without training "
        "(variants that can: qwen-vl)\n"
    )
