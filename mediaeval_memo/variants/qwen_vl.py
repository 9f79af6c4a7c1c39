"""The qwen-vl run variant: a Qwen-VL model adapted with (Q)LoRA to predict memorability from frames and captions.

After Martin-Fernandez et al. (Sensors 2025): the first, middle and last frames and the five captions go into a
prompt (a replaceable template, `prompts/qwen_vl_memorability.txt`), and the model answers a number 0-100. Heads:
    generate   the paper's: the label round(100 * score) is the answer text, the loss is on the answer tokens only;
               prediction decodes greedily and parses an integer 0-100 (invalid answers get the training mean,
               and their rate is reported)
    head       a linear regression head on the last prompt token's hidden state, MSE; no vocabulary at all
    expected   trained like generate; predicts the probability-weighted mean of the answers 0..100
Optionally N frames go in as one video input. Visual tokens are cached on disk and reused (qwen_vl_backbone).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd
import torch
from torch import nn

from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.errors import InputError, Problem
from mediaeval_memo.io import atomic_write_text
from mediaeval_memo.training.config import LoraConfig
from mediaeval_memo.variants.base import ConfigError, Model, Variant, VariantConfig

if TYPE_CHECKING:
    from mediaeval_memo.training.loop import TrainOutcome

log = logging.getLogger(__name__)

PROMPT_FILE = Path(__file__).parent / "prompts" / "qwen_vl_memorability.txt"
META_FILE = "qwen_vl.json"
WEIGHTS_FILE = "trainable.safetensors"
PROMPT_COPY = "prompt.txt"
Head = Literal["generate", "head", "expected"]


@dataclass
class QwenVLConfig(LoraConfig):
    """qwen-vl: the backbone, the prompt and inputs, the output head; training and LoRA fields are inherited."""

    # Short names the grid accepts: `--grid "r=16,32" --grid "alpha=32,64"`.
    aliases: ClassVar[dict[str, str]] = {"r": "lora_r", "alpha": "lora_alpha", "dropout": "lora_dropout"}

    model: str = field(
        default="Qwen/Qwen2.5-VL-7B-Instruct",
        metadata={
            "help": "Hub name or local path of a Qwen2-VL, Qwen2.5-VL or Qwen3-VL model, or a built-in "
            "tiny-random-qwen2-vl / tiny-random-qwen2.5-vl / tiny-random-qwen3-vl, or random-qwen2.5-vl-7b (the real "
            "7B shape, random weights, for speed checks); built-ins download nothing."
        },
    )
    head: Head = field(default="generate", metadata={"help": "Output head: generate, head or expected."})
    frames: int = field(default=3, metadata={"help": "Frames per video: first, middle and last for 3; evenly spaced."})
    frame_mode: Literal["images", "video"] = field(
        default="images", metadata={"help": "images: one image per frame (the paper); video: all frames as one video."}
    )
    image_size: int = field(default=448, metadata={"help": "Frames are resized to this square side (pixels)."})
    captions: int = field(default=5, metadata={"help": "Captions per video put in the prompt (at most)."})
    prompt: str = field(
        default="", metadata={"help": "Prompt template file with {frames} and {captions}; empty: the paper's."}
    )
    max_new_tokens: int = field(default=4, metadata={"help": "Answer tokens decoded by the generate head."})
    eval_batch_size: int = field(default=8, metadata={"help": "Videos per forward pass when predicting."})
    cache_dir: str = field(
        default="", metadata={"help": "Visual-token cache folder; empty: <data>/cache/visual_tokens."}
    )
    attn_implementation: str = field(
        default="",
        metadata={"help": "transformers attention implementation (sdpa, flash_attention_2); empty: default."},
    )
    trust_remote_code: bool = field(
        default=False, metadata={"help": "Run model code from the hub (needed by Qwen-VL-Chat; off unless asked)."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("frames", "image_size", "max_new_tokens", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(name, getattr(self, name), "must be >= 1")
        if self.captions < 0:
            raise ConfigError("captions", self.captions, "must be >= 0")
        if self.image_size % 28 and self.image_size % 32:
            raise ConfigError("image_size", self.image_size, "must be a multiple of 28 (Qwen2/2.5-VL) or 32 (Qwen3-VL)")
        if not self.model:
            raise ConfigError("model", self.model, "name a model (hub name, local path or tiny-random-qwen2.5-vl)")


# ---------------------------------------------------------------- labels, answers, prompt


def score_to_label(score: float) -> str:
    """The answer text a score trains: round(100 * score) as an integer, half up, clipped to 0..100."""
    # The epsilon keeps 0.845 (stored as 0.84499999...) rounding up, as a person reading it would.
    return str(int(min(100, max(0, math.floor(100 * float(score) + 0.5 + 1e-9)))))


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def parse_answer(text: str) -> float | None:
    """The first number in a generated answer, as a score in [0, 1]; None when there is none or it is not 0-100."""
    match = _NUMBER.search(text)
    if match is None:
        return None
    value = float(match.group())
    if not 0 <= value <= 100:
        return None
    return round(value) / 100.0


def load_template(path: str | Path | None) -> str:
    source = Path(path) if path else PROMPT_FILE
    if not source.is_file():
        raise InputError(Problem(str(source), "prompt template not found", field="prompt"))
    text = source.read_text(encoding="utf-8").strip("\n")
    missing = [p for p in ("{frames}", "{captions}") if text.count(p) != 1]
    if missing:
        raise InputError(
            Problem(str(source), "a prompt template must contain {frames} and {captions} once each", field=missing[0])
        )
    return text


def render_prompt(template: str, n_blocks: int, captions: Sequence[str], as_video: bool = False) -> str:
    """The prompt as readable text, one pad token per visual block (what `tokenize_prompt` expands)."""
    pad = "<|video_pad|>" if as_video else "<|image_pad|>"
    frames = "".join(f"<|vision_start|>{pad}<|vision_end|>" for _ in range(n_blocks))
    before, _, rest = template.partition("{frames}")
    middle, _, after = rest.partition("{captions}")
    return (
        f"<|im_start|>user\n{before}{frames}{middle}{chr(10).join(captions)}{after}<|im_end|>\n<|im_start|>assistant\n"
    )


# ---------------------------------------------------------------- examples and batches


@dataclass
class Example:
    video_id: str
    input_ids: list[int]
    mm_types: list[int]
    labels: list[int]
    score: float
    cache_path: Path


def select_frames(paths: Sequence[Path], n: int) -> list[Path]:
    """n frames spread over the video: first, middle and last for n=3; all of them when there are fewer."""
    if len(paths) <= n:
        return list(paths)
    last = len(paths) - 1
    if n == 3:  # the paper's choice, exactly: the middle frame rounds down
        return [paths[0], paths[last // 2], paths[last]]
    return [paths[i] for i in np.linspace(0, last, n).round().astype(int)]


class Scorer(nn.Module):
    """The trainable whole: the (LoRA-wrapped) Qwen-VL model and, for the `head` head, a regression head.

    `forward(batch)` returns the training loss, so that DDP sees one forward per micro-batch.
    """

    def __init__(self, backbone_model: nn.Module, head: str, hidden_size: int, train_mean: float, seed: int):
        super().__init__()
        self.backbone = backbone_model
        self.head_kind = head
        self.regressor: nn.Linear | None = None
        if head == "head":
            g = torch.Generator().manual_seed(seed)
            self.regressor = nn.Linear(hidden_size, 1)
            with torch.no_grad():
                self.regressor.weight.copy_(torch.randn(1, hidden_size, generator=g) * 0.01)
                self.regressor.bias.fill_(train_mean)
            self.regressor.to(next(p.device for p in backbone_model.parameters()))

    def regress(self, hidden: torch.Tensor) -> torch.Tensor:
        assert self.regressor is not None
        return self.regressor(hidden[:, -1].float()).squeeze(-1)

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        from mediaeval_memo.variants.qwen_vl_backbone import answer_logits, language_hidden

        hidden, _, _ = language_hidden(self.backbone, batch)
        if self.head_kind == "head":
            return nn.functional.mse_loss(self.regress(hidden), batch["scores"].float())
        logits, targets = answer_logits(self.backbone, hidden, batch["labels"])
        return nn.functional.cross_entropy(logits.float(), targets)


class QwenVLRuntime:
    """A loaded backbone with its prompt, tokenizer and visual-token cache: builds examples, batches, predictions."""

    def __init__(self, config: QwenVLConfig, lora: bool, train_mean: float):
        from accelerate import PartialState

        from mediaeval_memo.training.lora import LoraTargetError, add_lora
        from mediaeval_memo.variants.qwen_vl_backbone import load_backbone

        self.config = config
        self.template = load_template(config.prompt or None)
        self.device = PartialState().device
        self.backbone = load_backbone(
            config.model, config.quantization, self.device, config.trust_remote_code, config.attn_implementation or None
        )
        model = self.backbone.model
        for p in model.parameters():
            p.requires_grad_(False)
        if lora:
            try:
                with torch.random.fork_rng(devices=[]):  # the adapters' initial weights follow the seed alone
                    torch.manual_seed(config.seed)
                    model = add_lora(model, config)
            except LoraTargetError as exc:
                message = f"matches no linear layer of {config.model}; some that exist: {', '.join(exc.existing[:3])}"
                raise InputError(Problem("config", message, field="lora_targets", value=config.lora_targets)) from None
        hidden = int(self.backbone.model.config.text_config.hidden_size)
        self.scorer = Scorer(model, config.head, hidden, train_mean, config.seed)
        self.train_mean = train_mean
        tok = self.backbone.tokenizer
        self.end_id = tok.convert_tokens_to_ids("<|im_end|>")
        self.stop_ids = sorted({self.end_id, tok.eos_token_id, tok.pad_token_id} - {None})
        self.candidates = [[*self._ids(str(c)), self.end_id] for c in range(101)]

    @property
    def as_video(self) -> bool:
        return self.config.frame_mode == "video"

    def _ids(self, text: str) -> list[int]:
        return list(self.backbone.tokenizer(text, add_special_tokens=False)["input_ids"])

    def cache_for(self, dataset: PreparedDataset) -> Any:
        from mediaeval_memo.variants.qwen_vl_backbone import VisualCache

        root = Path(self.config.cache_dir) if self.config.cache_dir else dataset.root / "cache" / "visual_tokens"
        return VisualCache(root, self.backbone.identity, self.config.image_size, self.as_video)

    def ensure_visual_tokens(self, dataset: PreparedDataset, ids: Sequence[str]) -> dict[str, Path]:
        """Cache path of every video's visual tokens, running the frozen tower for those not cached yet."""
        from accelerate import PartialState
        from PIL import Image
        from rich.progress import Progress

        from mediaeval_memo.variants.qwen_vl_backbone import encode_frames

        cache = self.cache_for(dataset)
        paths: dict[str, Path] = {}
        todo: list[tuple[str, list[Path], Path]] = []
        for vid in ids:
            frames = select_frames(dataset.frame_paths(vid), self.config.frames)
            if not frames:
                raise InputError(
                    Problem(
                        str(dataset.root / "frames" / vid),
                        "video has no prepared frames; run `memo prepare ... --frames 3`",
                        field="video_id",
                        value=vid,
                    )
                )
            paths[vid] = cache.path(vid, frames)
            if not paths[vid].is_file():
                todo.append((vid, frames, paths[vid]))
        if todo:
            # Under `accelerate launch` each process encodes its share; all wait until every file is there.
            state = PartialState()
            mine = todo[state.process_index :: state.num_processes]
            with Progress(transient=True, disable=not state.is_main_process) as progress:
                task = progress.add_task(f"visual tokens ({len(todo)} videos)", total=len(mine))
                for _vid, frames, path in mine:
                    images = [Image.open(f) for f in frames]
                    cache.put(path, encode_frames(self.backbone, images, self.config.image_size, self.as_video))
                    progress.advance(task)
            state.wait_for_everyone()
        return paths

    def examples(self, dataset: PreparedDataset, ids: Sequence[str], with_labels: bool) -> list[Example]:
        from mediaeval_memo.variants.qwen_vl_backbone import IMAGE, TEXT, VIDEO, tokens_per_grid

        paths = self.ensure_visual_tokens(dataset, ids)
        rows = dataset.rows(list(ids))
        captions_of = dict(zip(rows["video_id"], rows["captions"], strict=True))
        target = self.config.target
        score_of = dict(zip(rows["video_id"], rows[target].astype(float), strict=True)) if with_labels else {}
        merge = self.backbone.prep.merge_size
        tok = self.backbone.tokenizer
        vs, ve = tok.convert_tokens_to_ids("<|vision_start|>"), tok.convert_tokens_to_ids("<|vision_end|>")
        pad_id = tok.convert_tokens_to_ids("<|video_pad|>" if self.as_video else "<|image_pad|>")
        kind = VIDEO if self.as_video else IMAGE
        out = []
        for vid in ids:
            grid = _grid_of(paths[vid])
            counts = tokens_per_grid(grid, merge)
            if self.as_video and self.backbone.family == "qwen3-vl":
                # Qwen3-VL reads a video as one block per temporal patch, each after its timestamp.
                t = int(grid[0, 0])
                per = counts[0] // t
                tps = self.backbone.prep.temporal_patch_size
                blocks = [(per, f"<{i * tps:.1f} seconds>") for i in range(t)]
            else:
                blocks = [(n, "") for n in counts]
            captions = [str(c) for c in list(captions_of[vid])[: self.config.captions]]
            before, _, rest = self.template.partition("{frames}")
            middle, _, after = rest.partition("{captions}")
            ids_ = self._ids(f"<|im_start|>user\n{before}")
            for n, prefix in blocks:
                ids_ += self._ids(prefix) if prefix else []
                ids_ += [vs] + [pad_id] * n + [ve]
            ids_ += self._ids(f"{middle}{chr(10).join(captions)}{after}<|im_end|>\n<|im_start|>assistant\n")
            types = [kind if i == pad_id else TEXT for i in ids_]
            labels = [-100] * len(ids_)
            score = score_of[vid] if with_labels else float("nan")
            if with_labels and self.config.head != "head":
                answer = [*self._ids(score_to_label(score)), self.end_id]
                ids_, types, labels = ids_ + answer, types + [TEXT] * len(answer), labels + answer
            out.append(Example(vid, ids_, types, labels, score, paths[vid]))
        return out

    def collate(self, examples: list[Example]) -> dict[str, Any]:
        """Left-padded batch (the last position is every row's last token) with the videos' cached visual tokens."""
        from mediaeval_memo.variants.qwen_vl_backbone import read_visual_tokens

        longest = max(len(e.input_ids) for e in examples)
        pad = self.backbone.tokenizer.pad_token_id
        ids, types, labels, mask = [], [], [], []
        visual, grids, deepstack_parts = [], [], []
        for e in examples:
            gap = longest - len(e.input_ids)
            ids.append([pad] * gap + e.input_ids)
            types.append([0] * gap + e.mm_types)
            labels.append([-100] * gap + e.labels)
            mask.append([0] * gap + [1] * len(e.input_ids))
            tokens = read_visual_tokens(e.cache_path)
            visual.append(tokens.tokens)
            grids.append(tokens.grid_thw)
            deepstack_parts.append(tokens.deepstack)
        deepstack = [torch.cat([d[i] for d in deepstack_parts]) for i in range(len(deepstack_parts[0]))]
        batch: dict[str, Any] = {
            "input_ids": torch.tensor(ids),
            "mm_token_type_ids": torch.tensor(types),
            "labels": torch.tensor(labels),
            "attention_mask": torch.tensor(mask),
            "visual_tokens": torch.cat(visual),
            "grid_thw": torch.cat(grids),
            "deepstack": deepstack,
            "as_video": self.as_video,
            "scores": torch.tensor([e.score for e in examples], dtype=torch.float32),
        }
        if self.as_video:
            batch["second_per_grid_ts"] = torch.ones(len(grids))
        return batch

    @torch.no_grad()
    def predict(self, dataset: PreparedDataset, ids: Sequence[str]) -> tuple[pd.Series, float | None]:
        """Scores for `ids` and, for the generate head, the rate of invalid answers."""
        from accelerate.utils import send_to_device
        from rich.progress import Progress

        from mediaeval_memo.variants.qwen_vl_backbone import candidate_distribution, greedy_answers

        scorer = self.scorer
        was_training = scorer.training
        scorer.eval()
        examples = self.examples(dataset, ids, with_labels=False)
        size = 1 if self.config.head == "expected" else self.config.eval_batch_size
        scores: list[float] = []
        invalid = 0
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda")
        with Progress(transient=True) as progress, autocast:
            task = progress.add_task(f"predict ({self.config.head})", total=len(examples))
            for start in range(0, len(examples), size):
                chunk = examples[start : start + size]
                batch = send_to_device(self.collate(chunk), self.device)
                if self.config.head == "head":
                    from mediaeval_memo.variants.qwen_vl_backbone import language_hidden

                    hidden, _, _ = language_hidden(scorer.backbone, batch)
                    scores += scorer.regress(hidden).float().cpu().tolist()
                elif self.config.head == "expected":
                    probs = candidate_distribution(scorer.backbone, batch, self.candidates)
                    scores.append(float((probs * torch.arange(101, device=probs.device)).sum()) / 100.0)
                else:
                    answers = greedy_answers(scorer.backbone, batch, self.stop_ids, self.config.max_new_tokens)
                    for answer in answers:
                        value = parse_answer(self.backbone.tokenizer.decode(answer, skip_special_tokens=True))
                        invalid += value is None
                        scores.append(self.train_mean if value is None else value)
                progress.advance(task, len(chunk))
        scorer.train(was_training)
        rate = invalid / len(examples) if self.config.head == "generate" and examples else None
        if rate:
            log.warning(
                "%d of %d answers had no number 0-100 (%.1f%%); they got the training mean %.4f",
                invalid, len(examples), 100 * rate, self.train_mean,
            )  # fmt: skip
        return pd.Series(scores, index=list(ids), dtype=float), rate


def _grid_of(path: Path) -> torch.Tensor:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        grid: torch.Tensor = fh.get_tensor("grid_thw")
    return grid


# ---------------------------------------------------------------- the variant


@dataclass(frozen=True)
class Prediction:
    """Scores a model predicted for `ids` of the dataset at `dataset`, with the generate head's invalid rate."""

    dataset: Path
    ids: tuple[str, ...]
    scores: pd.Series
    invalid_rate: float | None


class QwenVLModel(Model):
    """A fitted (or zero-shot) qwen-vl model: config, training mean, trainable weights (LoRA and head)."""

    def __init__(
        self,
        runtime: QwenVLRuntime,
        trained: bool,
        history: list[dict[str, Any]] | None = None,
        known: Prediction | None = None,
    ):
        self.runtime = runtime
        self.trained = trained
        self.history = history or []
        self.invalid_rate: float | None = None
        # What these very weights already predicted for some videos during training (the validation videos of
        # the evaluation whose weights the model ended with): cross-validation asks for exactly those next.
        self.known = known

    def predict(self, dataset: PreparedDataset, split: str | Sequence[str]) -> pd.Series:
        ids = dataset.split(split)["video_id"].tolist() if isinstance(split, str) else list(split)
        if self.known is not None and self.known.dataset == dataset.root and self.known.ids == tuple(ids):
            self.invalid_rate = self.known.invalid_rate
            return self.known.scores.copy()
        scores, self.invalid_rate = self.runtime.predict(dataset, ids)
        return scores

    def save(self, directory: Path) -> None:
        from mediaeval_memo.training.checkpoint import save_trainable

        meta = {
            "config": asdict(self.runtime.config),
            "train_mean": self.runtime.train_mean,
            "trained": self.trained,
            "history": self.history,
        }
        atomic_write_text(directory / META_FILE, json.dumps(meta, indent=2) + "\n")
        atomic_write_text(directory / PROMPT_COPY, self.runtime.template + "\n")
        if self.trained:
            save_trainable(self.runtime.scorer, directory / WEIGHTS_FILE)

    @classmethod
    def load(cls, directory: Path) -> QwenVLModel:
        from mediaeval_memo.training.checkpoint import load_trainable
        from mediaeval_memo.variants.base import resolve_config

        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        values = dict(meta["config"])
        values["prompt"] = str(directory / PROMPT_COPY)
        config = resolve_config(QwenVLConfig, None, values)
        runtime = QwenVLRuntime(config, lora=meta["trained"], train_mean=float(meta["train_mean"]))
        if meta["trained"]:
            for p in runtime.scorer.parameters():
                p.requires_grad_(False)
            mark_trainable(runtime.scorer)
            load_trainable(runtime.scorer, directory / WEIGHTS_FILE)
        runtime.scorer.eval()
        return cls(runtime, meta["trained"], meta.get("history"))


def mark_trainable(scorer: Scorer) -> None:
    """The parameters a fit trains: LoRA adapters and the regression head (what the weights file holds)."""
    for name, p in scorer.named_parameters():
        p.requires_grad_("lora_" in name or name.startswith("regressor."))


class QwenVL(Variant):
    name = "qwen-vl"
    Config = QwenVLConfig
    Model = QwenVLModel

    def fit(
        self, dataset: PreparedDataset, config: VariantConfig, fold: int | None, workdir: Path | None = None
    ) -> QwenVLModel:
        import tempfile

        from scipy.stats import spearmanr

        from mediaeval_memo.training import EpochBatches, train_loop
        from mediaeval_memo.variants.runner import train_ids, val_ids

        assert isinstance(config, QwenVLConfig)
        target = dataset.check_target(config.target)
        ids = train_ids(dataset, target, fold)
        if not ids:
            raise InputError(Problem(str(dataset.root), "no labelled training videos", field="target", value=target))
        train_mean = float(dataset.rows(ids)[target].astype(float).mean())
        runtime = QwenVLRuntime(config, lora=True, train_mean=train_mean)
        mark_trainable(runtime.scorer)
        examples = runtime.examples(dataset, ids, with_labels=True)
        validation = list(val_ids(dataset, fold)) if fold is not None else []
        gold = dataset.rows(validation).set_index("video_id")[target] if validation else None

        evaluations: list[Prediction] = []  # this call's evaluations, in order (the last of outcome.history)

        def eval_fn(model: nn.Module) -> float:
            scores, rate = runtime.predict(dataset, validation)
            evaluations.append(Prediction(dataset.root, tuple(validation), scores, rate))
            assert gold is not None
            return float(spearmanr(scores.to_numpy(), gold.reindex(scores.index).to_numpy()).statistic)

        def loss_fn(model: nn.Module, batch: Any) -> torch.Tensor:
            loss: torch.Tensor = model(batch)
            return loss

        with tempfile.TemporaryDirectory(prefix="memo-qwen-vl-") as scratch:
            outcome = train_loop(
                runtime.scorer,
                EpochBatches.factory(examples, config.batch_size, runtime.collate, config.seed),
                eval_fn if validation else None,
                config,
                Path(workdir) if workdir is not None else Path(scratch),
                loss_fn=loss_fn,
            )
        known = _prediction_of_final_weights(outcome, evaluations, keep_best=config.keep_best)
        return QwenVLModel(runtime, trained=True, history=outcome.history, known=known)


def _prediction_of_final_weights(
    outcome: TrainOutcome, evaluations: list[Prediction], keep_best: bool
) -> Prediction | None:
    """The evaluation made with the weights `train_loop` returned, when it happened in this call.

    Those weights are the best evaluation's (keep_best, once one improved) or the final step's, which the loop
    always evaluates last; `evaluations` are the last len(evaluations) entries of the history.
    """
    if not evaluations:
        return None
    steps = [entry["step"] for entry in outcome.history[-len(evaluations) :]]
    wanted = outcome.best_step if keep_best and outcome.best_step is not None else outcome.global_step
    if wanted in steps:
        return evaluations[len(steps) - 1 - steps[::-1].index(wanted)]
    return None


def zero_shot(model: str, dataset: PreparedDataset, overrides: Mapping[str, object] | None = None) -> QwenVLModel:
    """The untrained model on the paper's prompt (its section 4.1): generate or expected head, no adapters."""
    from mediaeval_memo.variants.base import resolve_config

    config = resolve_config(QwenVLConfig, None, {**(overrides or {}), "model": model})
    if config.head == "head":
        raise InputError(
            Problem(
                "--zero-shot",
                "the regression head needs training; use generate or expected",
                field="head",
                value="head",
            )
        )
    config.target = dataset.check_target(config.target)
    labelled = dataset.labelled(config.target)
    mean = float(labelled[config.target].mean()) if len(labelled) else 0.5
    return QwenVLModel(QwenVLRuntime(config, lora=False, train_mean=mean), trained=False)


@dataclass
class ZeroShotResult:
    predictions: Path
    invalid_rate: float | None
    srcc: float | None  # when the split is labelled
    analysis: Path | None


def predict_zero_shot(
    model: str, data_dir: str | Path, split: str, out: str | Path, overrides: Mapping[str, object] | None = None
) -> ZeroShotResult:
    """`memo predict --zero-shot`: score a split with the untrained model; on a labelled split also report
    Spearman and write the error analysis beside the predictions (`<out stem>_error_analysis/`)."""
    from scipy.stats import spearmanr

    from mediaeval_memo.predictions import write_predictions
    from mediaeval_memo.variants.error_analysis import write_error_analysis

    dataset = PreparedDataset.load(data_dir)
    if dataset.split(split).empty:
        raise InputError(Problem(str(dataset.root), "the split has no videos", field="split", value=split))
    fitted = zero_shot(model, dataset, overrides)
    scores = fitted.predict(dataset, split)
    path = write_predictions(scores, out)
    target = fitted.runtime.config.target
    gold = dataset.rows(list(scores.index)).set_index("video_id")[target].astype(float)
    srcc, analysis = None, None
    if bool(np.isfinite(gold).all()) and len(gold) > 2:
        srcc = float(spearmanr(scores.to_numpy(), gold.reindex(scores.index).to_numpy()).statistic)
        analysis = path.with_name(f"{path.stem}_error_analysis")
        write_error_analysis(dataset, scores, target, analysis)
    return ZeroShotResult(path, fitted.invalid_rate, srcc, analysis)
