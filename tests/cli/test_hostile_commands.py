"""A corpus of malformed inputs to the commands, beyond the releases (tests/data/test_hostile_releases.py): damaged
prepared datasets and model folders, outputs that cannot be written, recipes and `--set` values that do not parse,
unknown config keys at any depth, NaN and infinity in numeric options, model names that lead nowhere, organiser
features that are not finite numeric arrays. Each is one line naming the file (or the command line), exit 1, no
traceback, and nothing left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mediaeval_memo.cli import cli
from mediaeval_memo.data.sample import write_sample


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert "Traceback" not in result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{args}: raised {result.exception!r}") from result.exception
    return result.exit_code, result.output


def one_error(code: int, output: str, prefix: str) -> None:
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert code == 1 and len(errors) == 1 and errors[0].startswith(prefix), output


@pytest.fixture
def dataset(sample_memento10k: Path, tmp_path: Path) -> Path:
    """The prepared Memento10k sample without its frames (what these commands read before failing)."""
    return shutil.copytree(sample_memento10k, tmp_path / "data", ignore=shutil.ignore_patterns("frames"))


# --------------------------------------------------------------------------------- damaged prepared datasets


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("manifest.json", b'{"dataset": "memento10k", ', "not valid JSON"),
        ("manifest.json", b"[1, 2]", "not a JSON object"),
        ("manifest.json", '{"dataset": "caf\xe9"}'.encode("latin-1"), "not UTF-8 text"),
        ("items.parquet", b"PAR1 this is not a parquet file", "not a readable parquet table"),
        ("folds.json", b'{"k": 5, "folds": 3}', "not the folds `memo prepare` writes"),
        ("folds.json", b"{", "not valid JSON"),
    ],
)
def test_a_damaged_prepared_dataset_is_one_line(
    dataset: Path, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    (dataset / name).write_bytes(content)
    for args in (["info", dataset], ["train", "gbt", "--data", dataset, "--out", tmp_path / "run"]):
        code, output = invoke(*args)
        one_error(code, output, f"error: {dataset / name}")
        assert message in output
    assert not (tmp_path / "run").exists()


def test_an_item_table_that_breaks_the_contract_is_one_line_per_problem(dataset: Path) -> None:
    import pandas as pd

    items = pd.read_parquet(dataset / "items.parquet")
    items.loc[3, "video_id"] = items.loc[2, "video_id"]
    items.to_parquet(dataset / "items.parquet", index=False)
    code, output = invoke("info", dataset)
    one_error(code, output, f"error: {dataset / 'items.parquet'}:4: video_id ")
    assert "duplicate video id" in output


# ------------------------------------------------------------------------------------------ damaged model dirs


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"{", "not valid JSON"), (b'{"memo": "1"}', "no variant name"), (b"\xff\xfe", "not UTF-8 text")],
)
def test_a_damaged_variant_record_is_one_line(dataset: Path, tmp_path: Path, content: bytes, message: str) -> None:
    model = tmp_path / "model"
    (model / "model").mkdir(parents=True)
    (model / "variant.json").write_bytes(content)
    code, output = invoke("predict", "--model", model, "--data", dataset, "--out", tmp_path / "p.csv")
    one_error(code, output, f"error: {model / 'variant.json'}")
    assert message in output and not (tmp_path / "p.csv").exists()


def test_a_damaged_saved_model_is_one_line(dataset: Path, tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "model").mkdir(parents=True)
    (model / "variant.json").write_text(json.dumps({"variant": "gbt"}))
    (model / "model" / "gbt.json").write_text("{ not json")
    code, output = invoke("predict", "--model", model, "--data", dataset, "--out", tmp_path / "p.csv")
    one_error(code, output, f"error: {model / 'model'}: the saved model cannot be loaded")
    assert not (tmp_path / "p.csv").exists()


# ------------------------------------------------------------------------------------------ unwritable outputs


@pytest.fixture
def read_only(tmp_path: Path) -> Path:
    """A folder nothing can be written into: made read-only for a user; for root (whom permissions do not stop),
    a read-only file system's folder."""
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    for candidate in (Path("/sys/fs"), Path("/proc/sys")):
        try:
            os.rmdir(tempfile.mkdtemp(dir=candidate))
        except OSError:
            return candidate
    pytest.skip("no folder here refuses root's writes")


def test_an_output_that_cannot_be_written_is_one_line_before_any_work(
    read_only: Path, dataset: Path, tmp_path: Path
) -> None:
    release = write_sample("memento10k", tmp_path / "release", seed=0, n=8)
    predictions = tmp_path / "p.csv"
    predictions.write_text("video_id,score\n")
    out = read_only / "memo-out"
    commands = {
        "prepare": ["prepare", "memento10k", "--root", release, "--frames", "0", "--out", out],
        "train": ["train", "gbt", "--data", dataset, "--out", out],
        "package": [
            "package",
            "--predictions",
            predictions,
            "--team",
            "A",
            "--subtask",
            "1",
            "--run",
            "1",
            "--out",
            out,
        ],
        "leaderboard": ["leaderboard", predictions, "--gold", dataset, "--out", out / "board"],
        "predict": ["predict", "--model", tmp_path, "--data", dataset, "--out", out / "p.csv"],
    }
    for name, args in commands.items():
        code, output = invoke(*args)
        assert code == 1, (name, output)
        assert "cannot be written" in output and output.count("\n") == 1, (name, output)
    assert not out.exists()


# -------------------------------------------------------------------------------------------- recipes and --set


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("features=[unclosed", "error: command line: features '[unclosed': not a valid value"),
        ("budget_minutes=.nan", "error: command line: budget_minutes '.nan': expected a finite number"),
        ("budget_minutes=.inf", "error: command line: budget_minutes '.inf': expected a finite number"),
        ("params={svr: {bogus: 1}}", "error: command line: params.svr.bogus 1: unknown parameter of svr"),
        ("params={lightgbm: {n_estimators: .nan}}", "error: command line: params '{lightgbm: {n_estimators: .nan}}': "),
        ("no_such_field=1", "error: command line: no_such_field: unknown config field"),
    ],
)
def test_a_bad_set_names_the_command_line(dataset: Path, tmp_path: Path, setting: str, expected: str) -> None:
    code, output = invoke("train", "gbt", "--data", dataset, "--out", tmp_path / "run", "--set", setting)
    one_error(code, output, expected)
    assert not (tmp_path / "run").exists()


def test_a_bad_budget_option_and_recipe_values(dataset: Path, tmp_path: Path) -> None:
    code, output = invoke("train", "gbt", "--data", dataset, "--out", tmp_path / "run", "--budget", "nan")
    one_error(code, output, "error: command line: budget_minutes nan: expected a finite number")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("variant: gbt\nconfig:\n  params: {lightgbm: {n_estimators: 5, leaves: 3}}\n")
    code, output = invoke("train", "gbt", "--data", dataset, "--out", tmp_path / "run", "--config", recipe)
    one_error(code, output, f"error: {recipe}: params.lightgbm.leaves 3: unknown parameter of lightgbm")
    # A value set in the recipe and again on the command line is blamed on the command line.
    code, output = invoke(
        "train",
        "gbt",
        "--data",
        dataset,
        "--out",
        tmp_path / "run",
        "--config",
        recipe,
        "--set",
        "params={svr: {C: -1, x: 2}}",
    )
    one_error(code, output, "error: command line: params.svr.x 2: unknown parameter of svr")
    recipe.write_text("config:\n  n_trials: [1\n")
    code, output = invoke("train", "gbt", "--data", dataset, "--out", tmp_path / "run", "--config", recipe)
    one_error(code, output, f"error: {recipe}:3: not valid YAML")
    recipe.write_bytes("config:\n  features: [caf\xe9]\n".encode("latin-1"))
    code, output = invoke("train", "gbt", "--data", dataset, "--out", tmp_path / "run", "--config", recipe)
    one_error(code, output, f"error: {recipe}:2: not UTF-8 text")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("variant", "option"), [("qwen-vl", "--model"), ("gemma-fusion", "--model")])
def test_a_model_name_that_leads_nowhere_is_one_line_before_any_output(
    dataset: Path, tmp_path: Path, variant: str, option: str
) -> None:
    for name in ("no-such-org/no-such-model", "./no/such/folder", "not a name"):
        code, output = invoke("train", variant, "--data", dataset, "--out", tmp_path / "run", option, name)
        one_error(code, output, f"error: memo train: model {name!r}: ")
        assert not (tmp_path / "run").exists()
    code, output = invoke(
        "predict", "--zero-shot", "--model", "no-such-org/no-such-model", "--data", dataset, "--out", tmp_path / "p.csv"
    )
    one_error(code, output, "error: --model: model 'no-such-org/no-such-model': ")
    assert not (tmp_path / "p.csv").exists()


# -------------------------------------------------------------------------------- releases beyond the tables


@pytest.fixture(scope="module")
def videm_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample("videm", tmp_path_factory.mktemp("videm") / "release", seed=0, n=10)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("nan", "not a finite number"),
        ("strings", "not a numeric array"),
        ("npz", "an .npz archive, not one .npy array"),
        ("garbage", "not a readable .npy array"),
    ],
)
def test_organiser_features_must_be_finite_numeric_arrays(
    videm_release: Path, tmp_path: Path, kind: str, message: str
) -> None:
    root = shutil.copytree(videm_release, tmp_path / "r")
    victim = sorted((root / "devset" / "features" / "R3D").glob("*.npy"))[0]
    if kind == "nan":
        array = np.load(victim)
        array.flat[3] = np.nan
        np.save(victim, array)
    elif kind == "strings":
        np.save(victim, np.array(["a", "b"]))
    elif kind == "npz":
        with open(victim, "wb") as fh:
            np.savez(fh, x=np.zeros(512))
    else:
        victim.write_bytes(b"not numpy")
    code, output = invoke(
        "prepare", "videm", "--root", root, "--out", tmp_path / "o" / "out", "--frames", "0", "--folds", "2"
    )
    one_error(code, output, f"error: devset/features/R3D/{victim.name}")
    assert message in output
    assert not (tmp_path / "o").exists()


def test_a_transcript_that_is_not_utf8(videm_release: Path, tmp_path: Path) -> None:
    root = shutil.copytree(videm_release, tmp_path / "r")
    victim = sorted((root / "devset-stt").glob("*.txt"))[0]
    victim.write_bytes("first line\nsecond caf\xe9\n".encode("latin-1"))
    code, output = invoke(
        "prepare", "videm", "--root", root, "--out", tmp_path / "o" / "out", "--frames", "0", "--folds", "2"
    )
    one_error(code, output, f"error: devset-stt/{victim.name}:2: byte '0xe9': not UTF-8 text")


def test_the_native_memento10k_json_is_checked_like_the_csvs(tmp_path: Path) -> None:
    root = tmp_path / "native"
    root.mkdir()
    records = [
        {"filename": f"run/clip{i}.mp4", "url": "u", "mem_score": 0.5 + i / 100, "alpha": -0.001, "captions": ["a"]}
        for i in range(6)
    ]
    cases = {
        "mem_score": (7.5, "memento_train_data.json:{line}: mem_score 7.5: out of range (accepted: [0, 1]) (label)"),
        "alpha": ("fast", "memento_train_data.json:{line}: alpha 'fast': not a number (label)"),
    }
    for key, (value, expected) in cases.items():
        bad = [dict(r) for r in records]
        bad[3][key] = value
        text = "[\n" + ",\n".join(json.dumps(r) for r in bad) + "\n]\n"
        (root / "memento_train_data.json").write_text(text, encoding="utf-8")
        code, output = invoke("prepare", "memento10k", "--root", root, "--out", tmp_path / "o" / "out", "--frames", "0")
        one_error(code, output, "error: " + expected.format(line=5))
    (root / "memento_train_data.json").write_bytes(b'[{"filename": "a/b.mp4", "captions": ["caf\xe9"]}]')
    code, output = invoke("prepare", "memento10k", "--root", root, "--out", tmp_path / "o" / "out", "--frames", "0")
    one_error(code, output, "error: memento_train_data.json:1: byte '0xe9': not UTF-8 text")
    (root / "memento_train_data.json").write_text('[{"filename": "a/b.mp4", "mem_score": 0.5, "alpha": 1e999}]')
    code, output = invoke("prepare", "memento10k", "--root", root, "--out", tmp_path / "o" / "out", "--frames", "0")
    one_error(code, output, "error: memento_train_data.json:1: alpha inf: not a finite number (label)")
    assert not (tmp_path / "o").exists()


def test_a_movies_mapping_that_is_not_utf8_or_names_a_bad_delimiter(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "scores.csv").write_text("video_id,score\na,0.5\nb,0.6\nc,0.7\nd,0.8\n")
    mapping = tmp_path / "m.yaml"
    mapping.write_bytes("id: vid\ntext: [caf\xe9]\n".encode("latin-1"))
    code, output = invoke("prepare", "movies", "--root", root, "--out", tmp_path / "o", "--mapping", mapping)
    one_error(code, output, f"error: {mapping}:2: byte '0xe9': not UTF-8 text")
    code, output = invoke("prepare", "movies", "--root", root, "--out", tmp_path / "o", "--column", "delimiter=;;")
    one_error(code, output, "error: command line: delimiter ';;': one character other than a quote or a line end")
    code, output = invoke("prepare", "movies", "--root", root, "--out", tmp_path / "o", "--column", "colour=red")
    one_error(code, output, "error: command line: --column colour: unknown mapping key")
    assert not (tmp_path / "o").exists()


def test_strict_leaves_no_staged_frames(tmp_path: Path) -> None:
    release = write_sample("memento10k", tmp_path / "release", seed=0, n=8)
    victim = sorted((release / "videos").glob("*.mp4"))[0]
    victim.write_bytes(b"not a video")
    out = tmp_path / "o" / "out"
    code, output = invoke("prepare", "memento10k", "--root", release, "--out", out, "--strict", "--frames", "1")
    assert code == 1 and "--strict" in output, output
    assert not out.exists() and list((tmp_path / "o").iterdir()) == [] if (tmp_path / "o").exists() else True
    victim.unlink()
    code, output = invoke("prepare", "memento10k", "--root", release, "--out", out, "--strict", "--frames", "1")
    assert code == 1 and "video file not found" in output, output
    assert not (tmp_path / "o").exists() or list((tmp_path / "o").iterdir()) == []


def test_predictions_and_gold_files_name_physical_lines(dataset: Path, tmp_path: Path) -> None:
    """A blank line used to shift every later line number of a predictions or gold file (pandas skips it)."""
    import pandas as pd

    test = pd.read_parquet(dataset / "items.parquet").query("split == 'test'")["video_id"].tolist()
    lines = ["video_id,score", *(f"{v},0.5" for v in test)]
    lines[5] = lines[5].split(",")[0] + ",abc"
    lines[2:2] = ["", ""]  # the bad row is now on line 8
    predictions = tmp_path / "p.csv"
    predictions.write_text("\n".join(lines) + "\n")
    code, output = invoke(
        "package", "--predictions", predictions, "--team", "A", "--subtask", "1", "--run", "1", "--data", dataset,
        "--out", tmp_path / "subs",
    )  # fmt: skip
    one_error(code, output, f"error: {predictions}:8: score 'abc': score must be a finite number")
    assert not (tmp_path / "subs").exists()
    code, output = invoke("score", predictions, "--gold", predictions)
    one_error(code, output, f"error: {predictions}:8: ")
    lines[8] = lines[8] + ",extra"
    predictions.write_text("\n".join(lines) + "\n")
    code, output = invoke("score", predictions, "--gold", dataset)
    one_error(code, output, f"error: {predictions}:9: fields 3: 3 fields where the header has 2")
    predictions.write_bytes(b"video_id,score\n" + "caf\xe9,0.5\n".encode("latin-1"))
    code, output = invoke("score", predictions, "--gold", dataset)
    one_error(code, output, f"error: {predictions}:2: byte '0xe9': not UTF-8 text")


def test_a_job_a_fit_refuses_leaves_no_run_folder(tmp_path: Path) -> None:
    """Input found wanting only by a fit (here: too few training videos for the inner folds) used to leave
    config.yaml, variant.json and train.log in --out."""
    root = tmp_path / "r"
    root.mkdir()
    rows = "".join(f"v{i},0.{10 + i},{i * 3}\n" for i in range(8))
    (root / "scores.csv").write_text("video_id,score,runtime\n" + rows)
    data = tmp_path / "data"
    code, output = invoke(
        "prepare", "movies", "--root", root, "--out", data, "--folds", "2", "--frames", "0", "--column", "meta=runtime"
    )
    assert code == 0, output
    out = tmp_path / "run"
    code, output = invoke(
        "train",
        "gbt",
        "--data",
        data,
        "--out",
        out,
        "--set",
        "features=[]",
        "--set",
        "members=[lightgbm]",
        "--folds",
        "0",
    )
    one_error(code, output, f"error: {data}: target: only 4 labelled training videos")
    assert not out.exists()


def test_a_recipe_key_beside_config_is_not_dropped_in_silence(dataset: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("variant: gbt\nconfig:\n  n_trials: 1\nn_trails: 5\n")
    code, output = invoke("train", "gbt", "--data", dataset, "--out", tmp_path / "run", "--config", recipe)
    one_error(code, output, f"error: {recipe}: n_trails: unknown recipe key")
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def with_block(sample_memento10k: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Memento10k sample with one colour-histogram block, without its frames."""
    from mediaeval_memo.features.visual import extract_visual_features

    data = shutil.copytree(sample_memento10k, tmp_path_factory.mktemp("block") / "data")
    extract_visual_features(data, "hsv-hist")
    shutil.rmtree(data / "frames")
    return data


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("meta.json", b"{", "not valid JSON"),
        ("ids.json", b"{}", "not a list of video ids"),
        ("vectors.npy", b"x", "not a readable .npy"),
    ],
)
def test_a_damaged_feature_block_is_one_line(
    with_block: Path, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    data = shutil.copytree(with_block, tmp_path / "data")
    block = next((data / "features").iterdir())
    (block / name).write_bytes(content)
    code, output = invoke("train", "gbt", "--data", data, "--out", tmp_path / "run", "--set", "members=[svr]")
    one_error(code, output, f"error: {block / name}")
    assert message in output and "memo features" in output
    assert not (tmp_path / "run").exists()
