"""`memo report MODEL_DIR`: the one page of a trained run, assembled from the run's own files, its dataset and
`evaluation.score` (the numbers `memo score` prints), plus what the variant says through its one hook,
`Variant.report_panels`. Rendering is `report.run`; this module reads and gathers.

The dataset is the one the run recorded in `run.json` (or `--data`); it must be the very item table the run was
trained on (its sha256 is in `variant.json`), or the page would pair the run with the wrong labels.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.core.io import atomic_write_text, sha256_file
from mediaeval_memo.core.predictions import read_predictions
from mediaeval_memo.core.progress import Reporter
from mediaeval_memo.data.items import ITEMS_FILE, PreparedDataset
from mediaeval_memo.evaluation.clusters import load_clusters
from mediaeval_memo.evaluation.gold import Gold, content_digest
from mediaeval_memo.evaluation.pipeline import Settings
from mediaeval_memo.evaluation.score import ScoreReport, score_run
from mediaeval_memo.experiments.error_analysis import rank_errors
from mediaeval_memo.experiments.runner import CONFIG_FILE, LOG_FILE, RUN_FILE, VARIANT_FILE
from mediaeval_memo.report.panels import RunFiles
from mediaeval_memo.report.run import GroupRow, Identity, RunPage, Video, render_run_page
from mediaeval_memo.variants import get_variant

OOF_FILE = "oof_predictions.csv"
TEST_FILE = "predictions_test.csv"
N_VIDEOS = 10  # best and worst shown
N_FRAMES = 3  # thumbnails per video
THUMB_HEIGHT = 72  # pixels
TEXT_CHARS = 400  # of captions, titles or transcripts per video
MIN_GROUP = 5  # videos, for a group's residual to be shown (more on large runs: n / 500, so 14 of 7,000)
GROUP_ROWS = 12
# Columns whose groups are worth a residual table, in the order tried: Memento10k's action, VIDEM's channel (its
# `group`), a TRECVid/VideoMem source or a category where a release has one.
GROUP_COLUMNS = ("action", "channel", "source", "category", "categoryName", "meta_category", "group")
TEXT_COLUMNS = ("title", "description", "transcript")


def is_model_dir(path: Path) -> bool:
    return (path / VARIANT_FILE).is_file()


def build_run_page(
    model_dir: str | Path,
    data_dir: str | Path | None = None,
    settings: Settings | None = None,
    progress: Reporter | None = None,
    clusters: str | None = None,
) -> RunPage:
    """Everything the run's page shows, from its folder and its dataset. `clusters` (a CSV `video_id,group` or a
    column of the dataset's item table, e.g. `group`) resamples whole clusters, as `memo score --clusters` does."""
    root = Path(model_dir)
    settings = settings or Settings()
    if not root.is_dir() or not is_model_dir(root):
        raise InputError(Problem(str(root), "not a model folder (no variant.json); give a folder `memo train` wrote"))
    identity = _read_json(root / VARIANT_FILE)
    config_text = (root / CONFIG_FILE).read_text("utf-8") if (root / CONFIG_FILE).is_file() else ""
    config = (_yaml(config_text).get("config") or {}) if config_text else {}
    run_record = _read_json(root / RUN_FILE) if (root / RUN_FILE).is_file() else {}
    dataset = _dataset(root, identity, run_record, data_dir)
    if clusters is not None:
        settings = replace(settings, clusters=load_clusters(clusters, dataset.root))
    target = dataset.check_target(str(config.get("target") or "") or None)
    ident = Identity(
        variant=str(identity.get("variant", "?")),
        dataset=dataset.name,
        items_sha256=str(identity.get("items_sha256", "")),
        memo_version=str(identity.get("memo", "?")),
        target=target,
        model_dir=str(root),
        data_dir=str(dataset.root),
        trained=str(run_record.get("started") or _started(root / LOG_FILE)),
        config_text=config_text,
        plan=tuple(str(x) for x in run_record.get("plan", [])),
    )
    page = RunPage(identity=ident, pooled=None)
    notes: list[str] = []
    if (root / OOF_FILE).is_file():
        page = _cross_validation(page, root, dataset, target, settings, progress)
    test_path = root / TEST_FILE
    test = read_predictions(test_path)["score"].to_numpy(dtype=np.float64) if test_path.is_file() else None
    variant = get_variant(ident.variant)
    panels = variant.report_panels(RunFiles.read(root))
    if page.best and not any(v.thumbnails for v in (*page.best, *page.worst)):
        notes.append(
            "No thumbnails: the dataset was prepared without frames (memo prepare --frames N), or Pillow is missing."
        )
    return replace(page, panels=tuple(panels), test=test, notes=tuple(notes))


def write_run_page(page: RunPage, out: str | Path) -> Path:
    return atomic_write_text(Path(out), render_run_page(page))


# ---------------------------------------------------------------------------------------------------- pieces


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(Problem(str(path), f"not readable JSON ({exc})")) from None
    if not isinstance(data, dict):
        raise InputError(Problem(str(path), "expected a JSON object"))
    return data


def _yaml(text: str) -> dict[str, Any]:
    import yaml

    data = yaml.safe_load(text)
    return data if isinstance(data, dict) else {}


def _dataset(
    root: Path, identity: dict[str, Any], run_record: dict[str, Any], data_dir: str | Path | None
) -> PreparedDataset:
    if data_dir is None:
        recorded = run_record.get("data")
        if not recorded:
            raise InputError(
                Problem(str(root), "does not say where its dataset is (no run.json); pass --data DIR", field="--data")
            )
        data_dir = recorded
    dataset = PreparedDataset.load(data_dir)
    want = identity.get("items_sha256")
    have = sha256_file(dataset.root / ITEMS_FILE)
    if want and want != have:
        raise InputError(
            Problem(
                str(dataset.root / ITEMS_FILE),
                f"is not the item table {root} was trained on (sha256 {have[:12]}..., the run's {str(want)[:12]}...); "
                "pass the dataset it was trained on with --data",
                field="--data",
            )
        )
    return dataset


def _started(log: Path) -> str:
    if not log.is_file():
        return ""
    with log.open(encoding="utf-8", errors="replace") as f:
        first = f.readline()
    match = re.match(r"\[?(\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d)?)", first.strip())
    return match.group(1) if match else ""


def subset_gold(dataset: PreparedDataset, target: str, ids: Sequence[str]) -> Gold:
    values = dataset.rows(list(ids)).set_index("video_id")[target].reindex(list(ids)).to_numpy(dtype=np.float64)
    source = f"{dataset.root} ({len(ids)} out-of-fold videos, {target})"
    return Gold(ids=list(ids), values=values, source=source, digest=content_digest(list(ids), values))


def _score(
    path: Path, dataset: PreparedDataset, target: str, settings: Settings, progress: Reporter | None
) -> ScoreReport:
    ids = read_predictions(path)["video_id"].astype(str).tolist()
    return score_run(path, subset_gold(dataset, target, ids), settings, progress)


def _cross_validation(
    page: RunPage, root: Path, dataset: PreparedDataset, target: str, settings: Settings, progress: Reporter | None
) -> RunPage:
    pooled = _score(root / OOF_FILE, dataset, target, settings, progress)
    folds = sorted((root / "folds").glob("fold_*/oof.csv"), key=lambda p: int(p.parent.name.split("_")[-1]))
    per_fold = [(f"fold {p.parent.name.split('_')[-1]}", _score(p, dataset, target, settings, None)) for p in folds]
    oof = read_predictions(root / OOF_FILE).set_index("video_id")["score"].astype(float)
    rows = dataset.rows(list(oof.index)).set_index("video_id").reindex(oof.index)
    gold = rows[target].astype(float)
    errors = rank_errors(oof, gold)
    best = [_video(dataset, rows, r) for r in errors.head(N_VIDEOS).itertuples()]
    worst = [_video(dataset, rows, r) for r in errors.tail(N_VIDEOS).iloc[::-1].itertuples()]
    return replace(
        page,
        pooled=pooled,
        folds=tuple(per_fold),
        gold=np.asarray(gold, dtype=np.float64),
        oof=np.asarray(oof, dtype=np.float64),
        deciles=tuple(_deciles(oof, gold)),
        groups=tuple(_groups(rows, errors, min_group(len(oof)))),
        group_min=min_group(len(oof)),
        best=tuple(best),
        worst=tuple(worst),
    )


def _deciles(prediction: pd.Series, gold: pd.Series) -> list[tuple[float, float, int]]:
    ranks = prediction.rank(method="first")
    bins = min(10, len(prediction))
    if bins < 2:
        return []
    decile = pd.qcut(ranks, bins, labels=False)
    frame = pd.DataFrame({"p": prediction, "g": gold, "d": decile})
    out = []
    for _, part in frame.groupby("d", sort=True):
        out.append((float(part["p"].mean()), float(part["g"].mean()), len(part)))
    return out


def min_group(n: int) -> int:
    """The fewest videos a group needs for its residual to be shown: a mean over a handful of videos is mostly
    noise, and on a large run the handfuls would crowd out the groups that matter."""
    return max(MIN_GROUP, n // 500)


def _groups(rows: pd.DataFrame, errors: pd.DataFrame, smallest: int) -> list[tuple[str, list[GroupRow]]]:
    indexed = errors.set_index("video_id")
    signed: pd.Series = indexed["prediction_pct"] - indexed["gold_pct"]
    out = []
    for column in GROUP_COLUMNS:
        if column not in rows.columns:
            continue
        labels = rows[column].astype(str).reindex(signed.index)
        labels = labels[labels.str.strip() != ""]
        if labels.empty or not 2 <= labels.nunique() <= len(signed) // 2:
            continue  # one group, or (nearly) one video per group: nothing to compare
        e = signed.reindex(labels.index)
        found = [
            GroupRow(str(g), len(part), float(part.mean()), float(part.abs().mean()))
            for g, part in e.groupby(labels, sort=True)
            if len(part) >= smallest
        ]
        found.sort(key=lambda r: (-r.mean_abs_rank_error, -r.n, r.group))
        if found:
            out.append((column, found[:GROUP_ROWS]))
        if out:
            break  # the first grouping that applies
    return out


def _text(row: pd.Series) -> str:
    parts: list[str] = []
    captions = row.get("captions")
    if captions is not None and not isinstance(captions, float):
        parts += [str(c) for c in list(captions) if str(c).strip()]
    for column in TEXT_COLUMNS:
        value = row.get(column)
        if isinstance(value, str) and value.strip():
            parts.append(f"{column}: {value.strip()}")
    text = " | ".join(parts)
    return text if len(text) <= TEXT_CHARS else text[: TEXT_CHARS - 1] + "…"


def _video(dataset: PreparedDataset, rows: pd.DataFrame, r: Any) -> Video:
    row = rows.loc[r.video_id]
    return Video(
        video_id=str(r.video_id),
        gold=float(r.gold),
        prediction=float(r.prediction),
        rank_error=float(r.rank_error),
        text=_text(row),
        thumbnails=tuple(_thumbnails(dataset, str(r.video_id))),
    )


def _thumbnails(dataset: PreparedDataset, video_id: str) -> list[bytes]:
    try:
        from PIL import Image
    except ImportError:
        return []
    paths = dataset.frame_paths(video_id)
    if len(paths) > N_FRAMES:  # first, middle and last, as the frames are in time order
        paths = [paths[0], paths[len(paths) // 2], paths[-1]]
    out = []
    for path in paths:
        try:
            with Image.open(path) as opened:
                rgb = opened.convert("RGB")
                width = max(1, round(rgb.width * THUMB_HEIGHT / max(rgb.height, 1)))
                small = rgb.resize((width, THUMB_HEIGHT))
                buf = io.BytesIO()
                small.save(buf, format="JPEG", quality=70)
                out.append(buf.getvalue())
        except OSError:
            continue  # an unreadable frame is left out, not fatal
    return out
