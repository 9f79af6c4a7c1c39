"""qwen-vl pieces on CPU: prompt, labels, answer parser, frame patches, visual-token cache, 4-bit LoRA gradients,
and a training forward for every tiny model family and both frame modes."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import torch

from mediaeval_memo.core.config import ConfigError
from mediaeval_memo.core.errors import InputError
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.variants.qwen_vl.config import QwenVLConfig
from mediaeval_memo.variants.qwen_vl.prompt import (
    PROMPT_FILE,
    Answer,
    load_template,
    parse_answer,
    read_answer,
    render_prompt,
    score_to_label,
    select_frames,
)
from mediaeval_memo.variants.qwen_vl.runtime import QwenVLRuntime
from tests.conftest import REPO

PAPER_TEXT = (
    "You are an expert in multimedia perception and memorability. On a scale from 0 to 100, predict how memorable the "
    "following video is based on the following frames and textual captions that describe them.\n"
)
PAPER_END = "\na dog runs\na dog plays\n(Answer only with a number between 0 and 100). PREDICTED SCORE:"
QWEN2_SYSTEM = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"


@pytest.mark.parametrize(
    ("model", "system"),
    [("tiny-random-qwen2-vl", QWEN2_SYSTEM), ("tiny-random-qwen2.5-vl", QWEN2_SYSTEM), ("tiny-random-qwen3-vl", "")],
)
def test_prompt_is_the_papers_in_the_models_own_chat_template(model: str, system: str) -> None:
    from mediaeval_memo.models.tiny_qwen import tiny_tokenizer

    text = render_prompt(tiny_tokenizer(model), load_template(None), ["a dog runs", "a dog plays"], 3)
    # Qwen2-VL and Qwen2.5-VL: the template's default system turn; Qwen3-VL: none.
    assert text == (
        f"{system}<|im_start|>user\n{PAPER_TEXT}"
        + "<|vision_start|><|image_pad|><|vision_end|>" * 3
        + f"{PAPER_END}<|im_end|>\n<|im_start|>assistant\n"
    )
    video = render_prompt(tiny_tokenizer(model), load_template(None), ["a dog runs", "a dog plays"], 8, as_video=True)
    assert video.count("<|video_pad|>") == 1 and "<|image_pad|>" not in video


def test_template_needs_both_placeholders(tmp_path: Path) -> None:
    bad = tmp_path / "p.txt"
    bad.write_text("Rate this: {frames}\n")
    with pytest.raises(InputError) as info:
        load_template(bad)
    message = "a prompt template must contain {frames} and {captions} once each"
    assert str(info.value) == f"{bad}: {{captions}}: {message}"
    with pytest.raises(InputError, match="prompt template not found"):
        load_template(tmp_path / "missing.txt")
    assert load_template(PROMPT_FILE).count("{frames}") == 1


@pytest.mark.parametrize(
    ("score", "label"), [(0.8449, "84"), (0.845, "85"), (0.0, "0"), (1.0, "100"), (1.3, "100"), (-0.2, "0")]
)
def test_labels_are_rounded_percent(score: float, label: str) -> None:
    assert score_to_label(score) == label


@pytest.mark.parametrize(
    ("text", "score"),
    [
        # what instruction-tuned models write (the cases first)
        ("Score: 73", 0.73),
        ("0.73", 0.73),
        ("The memorability score is 73.", 0.73),
        ("On a scale from 0 to 100, I'd say 73.", 0.73),
        ("PREDICTED SCORE: 85", 0.85),
        ("I would give this video a memorability score of 64 out of 100.", 0.64),
        ("Between 0 and 100, this one is a 42.", 0.42),
        ("73%", 0.73),
        ("73/100", 0.73),
        ("7.3/10", 0.73),
        ("The video is quite memorable: 85 out of 100.", 0.85),
        ("73", 0.73),
        (" 100", 1.0),
        ("0", 0.0),
        ("1", 0.01),
        ("1.0", 1.0),
        (".5", 0.5),
        ("72.6", 0.726),
        ("Score: 0.9 (on a 0-1 scale)", 0.9),
        # invalid
        ("150", None),
        ("-5", None),
        ("Score: 120", None),
        ("140%", None),
        ("no idea", None),
        ("", None),
    ],
)
def test_answer_parser(text: str, score: float | None) -> None:
    value = parse_answer(text)
    assert value == pytest.approx(score) if score is not None else value is None


@pytest.mark.parametrize(
    ("text", "truncated", "reason"),
    [
        ("I cannot tell.", False, "no number"),
        ("Score: 150", False, "out of range"),
        ("-3", False, "out of range"),
        ("The memorability score", True, "truncated"),  # cut off before its number
        ("Score: 7", True, "truncated"),  # maybe the start of 73: never read as 0.07
        ("Score: 0.7", True, "truncated"),
        ("Score: 73.", True, "truncated"),  # maybe 73.5
        ("Score: 73/10", True, "truncated"),  # maybe 73/100
        ("On a scale from 0 to 100", True, "truncated"),  # the echoed scale is no answer
    ],
)
def test_invalid_answers_say_why(text: str, truncated: bool, reason: str) -> None:
    assert read_answer(text, truncated) == Answer(None, reason)


@pytest.mark.parametrize(("text", "score"), [("Score: 73. The video shows", 0.73), ("Score: 73% because", 0.73)])
def test_a_complete_number_survives_the_token_limit(text: str, score: float) -> None:
    assert read_answer(text, truncated=True) == Answer(score)


def test_parse_answer_is_exported_by_the_variant() -> None:
    import mediaeval_memo.variants.qwen_vl as variant

    assert variant.parse_answer("The memorability score is 73.") == 0.73


def test_frame_selection() -> None:
    paths = [Path(f"{i:03d}.jpg") for i in range(9)]
    assert select_frames(paths, 3) == [paths[0], paths[4], paths[8]]
    assert select_frames(paths, 5) == [paths[i] for i in (0, 2, 4, 6, 8)]
    assert select_frames(paths[:2], 3) == paths[:2]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("image_size", 50, "must be a multiple of 28 (Qwen2/2.5-VL) or 32 (Qwen3-VL)"),
        ("frames", 0, "must be >= 1"),
        ("lora_r", 0, "must be >= 1"),
        ("lora_targets", "(", "not a valid regular expression (missing ), unterminated subpattern at position 0)"),
    ],
)
def test_config_rejects_bad_values(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        QwenVLConfig(**{field: value})  # type: ignore[arg-type]
    assert (info.value.field_name, info.value.message) == (field, message)


def test_patchify_matches_the_qwen_layout() -> None:
    from PIL import Image

    from mediaeval_memo.models.qwen_vl import patchify, tokens_per_grid
    from mediaeval_memo.models.tiny_qwen import tiny_preprocessing

    prep = tiny_preprocessing("tiny-random-qwen2.5-vl")
    frames = [Image.new("RGB", (80, 60), (255, 0, 0)) for _ in range(3)]
    pixels, grid = patchify(frames, 56, prep, as_video=False, resize="square")
    assert grid.tolist() == [[1, 4, 4]] * 3 and pixels.shape == (48, 3 * 2 * 14 * 14)
    assert tokens_per_grid(grid, 2) == [4, 4, 4]
    pixels, grid = patchify(frames, 56, prep, as_video=True, resize="square")  # 3 frames pad to 2 temporal patches
    assert grid.tolist() == [[2, 4, 4]] and pixels.shape == (32, 3 * 2 * 14 * 14)
    # red normalised with CLIP statistics, in every patch's red channel
    assert torch.allclose(pixels[0, 0], torch.tensor((1 - 0.48145466) / 0.26862954))
    # native (the default): 4:3 kept as well as a 56^2 budget allows, 56x28 (2 tokens), not squashed to 56x56
    pixels, grid = patchify(frames, 56, prep, as_video=False)
    assert grid.tolist() == [[1, 2, 4]] * 3 and tokens_per_grid(grid, 2) == [2, 2, 2]


def test_4bit_on_cpu_keeps_the_tower_and_gives_lora_gradients() -> None:
    from bitsandbytes.nn import Linear4bit

    from mediaeval_memo.models.qwen_vl import load_backbone
    from mediaeval_memo.training.lora import add_lora

    backbone = load_backbone("tiny-random-qwen2.5-vl", "4bit", torch.device("cpu"))
    quantized = [n for n, m in backbone.model.named_modules() if isinstance(m, Linear4bit)]
    assert quantized and all("language_model" in n for n in quantized)
    assert all(not m.support_avx512bf16_for_cpu for m in backbone.model.modules() if isinstance(m, Linear4bit))
    model = add_lora(backbone.model, QwenVLConfig(lora_r=4, lora_alpha=8))
    lora = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert lora and all("language_model" in n and "lora_" in n for n in lora)
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    with torch.no_grad():  # the eval-mode no-grad forward that, unfixed, repacks weights and kills LoRA gradients
        model.eval()(input_ids=ids)
    model.train()
    model(input_ids=ids, labels=ids).loss.backward()
    grads = [p.grad for n, p in lora.items() if "lora_B" in n]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)


def test_bfloat16_adapters_train_next_to_4bit_layers() -> None:
    from mediaeval_memo.models.qwen_vl import load_backbone
    from mediaeval_memo.training.lora import add_lora

    backbone = load_backbone("tiny-random-qwen2.5-vl", "4bit", torch.device("cpu"))
    model = add_lora(backbone.model, QwenVLConfig(lora_r=4, lora_alpha=8, lora_dtype="bfloat16"))
    lora = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert lora and {p.dtype for p in lora.values()} == {torch.bfloat16}
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    model.train()(input_ids=ids, labels=ids).loss.backward()
    assert all(p.grad is not None and p.grad.dtype == torch.bfloat16 for n, p in lora.items() if "lora_B" in n)


def test_lora_targets_that_match_nothing_are_an_input_error(sample_memento10k: Path, tmp_path: Path) -> None:
    config = QwenVLConfig(model="tiny-random-qwen2-vl", quantization="none", lora_targets=r".*nothing_here")
    with pytest.raises(InputError, match="matches no linear layer of tiny-random-qwen2-vl"):
        QwenVLRuntime(config, lora=True, train_mean=0.5)


def _runtime(model: str, tmp_path: Path, **kw: object) -> QwenVLRuntime:
    values: dict[str, object] = dict(
        model=model, quantization="none", image_size=64 if "qwen3" in model else 56, cache_dir=str(tmp_path),
        target="mem_score", lora_r=2, lora_alpha=4,
    )  # fmt: skip
    config = QwenVLConfig(**{**values, **kw})  # type: ignore[arg-type]
    return QwenVLRuntime(config, lora=True, train_mean=0.8)


@pytest.mark.parametrize(
    ("model", "frame_mode"),
    [
        ("tiny-random-qwen2-vl", "images"),
        ("tiny-random-qwen3-vl", "images"),
        ("tiny-random-qwen2.5-vl", "video"),
        ("tiny-random-qwen3-vl", "video"),
    ],
)
def test_every_family_trains_and_predicts(sample_memento10k: Path, tmp_path: Path, model: str, frame_mode: str) -> None:
    dataset = PreparedDataset.load(sample_memento10k)
    runtime = _runtime(model, tmp_path, frame_mode=frame_mode, frames=3)
    ids = dataset.split("train")["video_id"].tolist()[:2]
    batch = runtime.collate(runtime.examples(dataset, ids, with_labels=True))
    loss = runtime.scorer(batch)
    loss.backward()
    assert torch.isfinite(loss)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in runtime.scorer.parameters() if p.requires_grad)
    scores, answers = runtime.predict(dataset, ids)
    assert list(scores.index) == ids and answers is not None and answers.n == len(ids)


def test_visual_tokens_are_cached_and_reused(sample_memento10k: Path, tmp_path: Path, monkeypatch) -> None:
    import mediaeval_memo.variants.qwen_vl.data as backbone

    dataset = PreparedDataset.load(sample_memento10k)
    runtime = _runtime("tiny-random-qwen2.5-vl", tmp_path)
    ids = dataset.split("dev")["video_id"].tolist()[:3]
    first = runtime.ensure_visual_tokens(dataset, ids)
    assert all(p.is_file() and p.parent.parent == tmp_path for p in first.values())

    def no_tower(*args: object, **kwargs: object) -> None:
        raise AssertionError("the tower ran for a cached video")

    monkeypatch.setattr(backbone, "encode_frames", no_tower)
    again = _runtime("tiny-random-qwen2.5-vl", tmp_path, lora_r=8)  # another LoRA setting shares the tokens
    assert again.ensure_visual_tokens(dataset, ids) == first
    other = _runtime("tiny-random-qwen2.5-vl", tmp_path, image_size=84)  # another resolution does not
    with pytest.raises(AssertionError, match="the tower ran"):
        other.ensure_visual_tokens(dataset, ids)


def test_expected_head_is_a_distribution_over_0_to_100(sample_memento10k: Path, tmp_path: Path) -> None:
    from mediaeval_memo.variants.qwen_vl.net import candidate_distribution

    dataset = PreparedDataset.load(sample_memento10k)
    runtime = _runtime("tiny-random-qwen2.5-vl", tmp_path, head="expected")
    ids = dataset.split("test")["video_id"].tolist()[:1]
    batch = runtime.collate(runtime.examples(dataset, ids, with_labels=False))
    probs = candidate_distribution(runtime.scorer.backbone, batch, runtime.candidates)
    assert probs.shape == (101,) and torch.isclose(probs.sum(), torch.tensor(1.0))
    scores, invalid = runtime.predict(dataset, ids)
    assert invalid is None and 0 <= float(scores.iloc[0]) <= 1
    assert float(scores.iloc[0]) == pytest.approx(float((probs * torch.arange(101)).sum()) / 100)


def test_paper_recipe_resolves_to_the_papers_settings() -> None:
    from mediaeval_memo.core.config import resolve_config

    recipe = REPO / "runs" / "qwen-vl-qlora.yaml"
    config = resolve_config(QwenVLConfig, recipe, {"model": "tiny-random-qwen2.5-vl"})
    assert (config.batch_size, config.epochs, config.lora_r, config.lora_alpha) == (4, 4, 128, 1024)
    assert (config.frames, config.captions, config.head, config.quantization) == (3, 5, "generate", "4bit")
    assert (config.image_size, config.resize) == (448, "native")
    assert config.model == "tiny-random-qwen2.5-vl"  # the command line wins over the recipe


def _frame_shape(dataset: PreparedDataset, vid: str) -> tuple[int, int]:
    from PIL import Image

    with Image.open(dataset.frame_paths(vid)[0]) as img:
        return img.size


def test_frames_of_different_shapes_share_a_batch(sample_memento10k: Path, tmp_path: Path) -> None:
    """Native aspect gives videos different grids; a batch of them scores each video as it scores alone."""
    dataset = PreparedDataset.load(sample_memento10k)
    ids = dataset.split("train")["video_id"].tolist()
    square = next(v for v in ids if _frame_shape(dataset, v) == (64, 64))
    wide = next(v for v in ids if _frame_shape(dataset, v) == (96, 72))
    runtime = _runtime("tiny-random-qwen2.5-vl", tmp_path, head="head")
    examples = runtime.examples(dataset, [square, wide], with_labels=False)
    batch = runtime.collate(examples)
    assert batch["grid_thw"].tolist() == [[1, 4, 4]] * 3 + [[1, 2, 4]] * 3  # 56x56, and 4:3 kept as 56x28
    assert [sum(t != 0 for t in e.mm_types) for e in examples] == [3 * 4, 3 * 2]  # visual tokens per video
    with torch.no_grad():
        from mediaeval_memo.variants.qwen_vl.net import language_hidden

        together = runtime.scorer.regress(language_hidden(runtime.scorer.backbone, batch)[0])
        alone = [
            runtime.scorer.regress(language_hidden(runtime.scorer.backbone, runtime.collate([e]))[0]) for e in examples
        ]
    assert torch.allclose(together, torch.cat(alone), atol=1e-5)
    scores, _ = runtime.predict(dataset, [square, wide])
    assert scores.tolist() == pytest.approx(together.tolist(), abs=1e-5)
    squashed = _runtime("tiny-random-qwen2.5-vl", tmp_path, head="head", resize="square")
    assert squashed.collate(squashed.examples(dataset, [square, wide], False))["grid_thw"].tolist() == [[1, 4, 4]] * 6


def test_video_time_stamps_are_the_clips(sample_memento10k: Path, tmp_path: Path) -> None:
    """Qwen3-VL's time stamp before each temporal patch and Qwen2.5-VL's seconds per temporal patch come from where
    in the clip the frames were taken, as the official processors compute them."""
    dataset = PreparedDataset.load(sample_memento10k)
    vid = dataset.split("train")["video_id"].iloc[0]
    # the sample's 8-fps clips: the prepared first, middle and last frames carry their real times
    times = dataset.frame_times(vid)
    assert times is not None and len(times) == 3 and times[0] == 0.0 and times[2] > times[1] > 0
    qwen3 = _runtime("tiny-random-qwen3-vl", tmp_path, frame_mode="video")
    qwen25 = _runtime("tiny-random-qwen2.5-vl", tmp_path, frame_mode="video")
    first_patch = f"{(times[0] + times[1]) / 2:.1f}"
    qwen3.examples(dataset, [vid], with_labels=False)
    assert qwen3.prompt_example is not None
    assert re.findall(r"<([\d.]+) seconds>", qwen3.prompt_example) == [first_patch, f"{times[2]:.1f}"]
    assert qwen25.examples(dataset, [vid], False)[0].second_per_grid_t == pytest.approx(2 * times[2] / 2)

    # frames 0, 2 and 5 seconds into the clip: patches (0, 2) and (5, 5 repeated)
    dataset.frame_times = lambda video_id: [0.0, 2.0, 5.0]  # type: ignore[method-assign]
    qwen3.examples(dataset, [vid], with_labels=False)
    assert qwen3.prompt_example is not None
    assert re.findall(r"<[\d.]+ seconds><\|vision_start\|>", qwen3.prompt_example) == [
        "<1.0 seconds><|vision_start|>",
        "<5.0 seconds><|vision_start|>",
    ]
    example = qwen25.examples(dataset, [vid], with_labels=False)[0]
    assert example.second_per_grid_t == 5.0  # 2 frames per patch x 2.5 s between frames
    assert qwen25.collate([example])["second_per_grid_ts"].tolist() == [5.0]
    assert torch.isfinite(qwen25.scorer(qwen25.collate(qwen25.examples(dataset, [vid], with_labels=True))))

    # prepared before times were stored: frames taken as 1 second apart, and said so
    dataset.frame_times = lambda video_id: None  # type: ignore[method-assign]
    log = io.StringIO()
    reporter = Reporter(log)
    qwen3.examples(dataset, [vid], with_labels=False, progress=reporter)
    qwen3.examples(dataset, [vid], with_labels=False, progress=reporter)  # said once per run, not per call
    assert qwen3.prompt_example is not None
    assert re.findall(r"<([\d.]+) seconds>", qwen3.prompt_example) == ["0.5", "2.0"]
    assert qwen25.examples(dataset, [vid], with_labels=False)[0].second_per_grid_t == 2.0
    assert log.getvalue() == (
        "some videos have no frame times (prepared before `memo prepare` stored them): their frames are taken as 1 "
        "second apart; prepare the dataset again (--force) for the clips' real times\n"
    )


def test_loading_fails_on_any_missing_or_unexpected_adapter_key(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    from mediaeval_memo.variants.qwen_vl.model import WEIGHTS_FILE, QwenVLModel, mark_trainable

    runtime = _runtime("tiny-random-qwen2-vl", tmp_path / "cache")
    mark_trainable(runtime.scorer)
    QwenVLModel(runtime, trained=True).save(tmp_path / "model")
    assert QwenVLModel.load(tmp_path / "model").trained  # the saved file fits
    weights = tmp_path / "model" / WEIGHTS_FILE
    saved = load_file(str(weights))
    # what a transformers refactor does to module names: the adapter of the language model's first layer renamed
    old = next(k for k in sorted(saved) if ".language_model.layers.0." in k)
    renamed = {k.replace(".language_model.", ".") if k == old else k: v for k, v in saved.items()}
    save_file(renamed, str(weights))
    with pytest.raises(InputError) as info:
        QwenVLModel.load(tmp_path / "model")
    (problem,) = info.value.problems
    assert problem.file == str(weights)
    assert problem.message == (
        f"does not fit the model it is loaded into: 1 of the model's trainable weights (LoRA adapters, heads) missing, "
        f"first {old}; 1 unexpected, first {old.replace('.language_model.', '.')}. It was saved with other layer "
        "names (another transformers or peft version) or other settings (lora_targets, head); nothing was loaded"
    )


def test_models_saved_before_native_frames_keep_predicting_square(tmp_path: Path) -> None:
    import json

    from mediaeval_memo.variants.qwen_vl.model import META_FILE, QwenVLModel

    QwenVLModel(_runtime("tiny-random-qwen2-vl", tmp_path / "cache"), trained=False).save(tmp_path / "model")
    assert QwenVLModel.load(tmp_path / "model").runtime.config.resize == "native"
    meta = json.loads((tmp_path / "model" / META_FILE).read_text())
    del meta["config"]["resize"]
    (tmp_path / "model" / META_FILE).write_text(json.dumps(meta))
    assert QwenVLModel.load(tmp_path / "model").runtime.config.resize == "square"
