"""`memo info`: what a prepared dataset holds, as a dict (for `--json` and tests) and as text for people."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mediaeval_memo.data.feature_store import list_blocks
from mediaeval_memo.data.items import SPLITS, PreparedDataset
from mediaeval_memo.data.readers import DATASETS, reader
from mediaeval_memo.media.frames import is_complete

SHOWN = 10  # failed videos listed by name; the rest are counted


def summarize(directory: str | Path) -> dict[str, Any]:
    dataset = PreparedDataset.load(directory)
    items, manifest = dataset.items, dataset.manifest
    targets: dict[str, dict[str, float | int]] = {}
    for t in dataset.targets:
        y = items[t].astype(float).to_numpy()
        y = y[np.isfinite(y)]
        targets[t] = {
            "labelled": len(y),
            "mean": round(float(y.mean()), 4) if len(y) else float("nan"),
            "sd": round(float(y.std(ddof=1)), 4) if len(y) > 1 else float("nan"),
            "min": round(float(y.min()), 4) if len(y) else float("nan"),
            "max": round(float(y.max()), 4) if len(y) else float("nan"),
        }
    n_captions = items["captions"].map(len)
    frames = manifest.get("frames", {})
    per_video = int(frames.get("frames_per_video", 0))
    on_disk = (
        sum(is_complete(dataset.root / "frames" / vid, per_video) for vid in items["video_id"]) if per_video else 0
    )
    folds = dataset.folds
    return {
        "path": str(dataset.root),
        "dataset": dataset.name,
        "layout": manifest.get("layout"),
        "rows": {s: int((items["split"] == s).sum()) for s in SPLITS},
        "targets": targets,
        "captions": {
            "videos_with_captions": int((n_captions > 0).sum()),
            "per_video_mean": round(float(n_captions.mean()), 2),
        },
        # Groups of the videos the folds cover (the labelled ones), not of the unlabelled test split.
        "groups": int(items.loc[items["video_id"].isin(folds.all_ids()), "group"].nunique())
        if folds is not None
        else int(items["group"].nunique()),
        "folds": None
        if folds is None
        else {
            "k": folds.k,
            "sizes": [len(f) for f in folds.folds],
            "seed": folds.seed,
            "inner_k": len(folds.inner.get(0, [])),
        },
        "media": {**manifest.get("media", {}), "root": manifest.get("media_root")},
        "frames": {
            "per_video": per_video,
            "videos_with_frames": on_disk,
            "missing": frames.get("missing", []),
            "corrupt": frames.get("corrupt", {}),
            "skipped": frames.get("skipped"),
        },
        "labels": dataset.label_columns,
        "notes": list(manifest.get("notes", [])),
        "feature_blocks": list_blocks(dataset.root),
        "created": manifest.get("created"),
        "toolkit_version": manifest.get("toolkit_version"),
    }


def reader_list() -> list[dict[str, Any]]:
    """Every registered release reader: its name, title, targets and label columns (from its declaration)."""
    out = []
    for name in DATASETS:
        spec = reader(name)
        out.append({"name": name, "title": spec.title, "labels": spec.labels})
    return out


def render_summary(summary: dict[str, Any]) -> str:
    rows = summary["rows"]
    lines = [
        f"{summary['dataset']} ({summary['layout']}) at {summary['path']}",
        "  rows: " + ", ".join(f"{s} {rows[s]}" for s in SPLITS) + f" (total {sum(rows.values())})",
    ]
    for name, t in summary["targets"].items():
        lines.append(
            f"  target {name}: {t['labelled']} labelled, mean {t['mean']:.4f}, sd {t['sd']:.4f}, "
            f"range {t['min']:.4f}..{t['max']:.4f}"
        )
    lines.append("  labels (a fit sees them only for its own videos): " + ", ".join(summary["labels"]))
    for note in summary["notes"]:
        lines.append(f"  note: {note}")
    c = summary["captions"]
    lines.append(f"  captions: {c['videos_with_captions']} videos with captions, {c['per_video_mean']:.2f} per video")
    f = summary["folds"]
    if f:
        inner = f", {f['inner_k']} inner folds each" if f["inner_k"] else ""
        lines.append(
            f"  folds: {f['k']} (seed {f['seed']}) over {summary['groups']} groups, sizes "
            + "/".join(map(str, f["sizes"]))
            + inner
        )
    media = summary["media"]
    if media.get("root") is None:
        lines.append("  media: none in the release (captions and metadata only)")
    else:
        lines.append(f"  media: {media.get('found', 0)} found, {media.get('missing', 0)} missing in {media['root']}")
    fr = summary["frames"]
    if fr["per_video"]:
        lines.append(f"  frames: {fr['videos_with_frames']} videos with {fr['per_video']} frames each")
        for label, names in (("missing videos", fr["missing"]), ("corrupt videos", list(fr["corrupt"]))):
            if names:
                shown = ", ".join(names[:SHOWN]) + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")
                lines.append(f"  {label} ({len(names)}): {shown}")
    elif fr["skipped"]:
        lines.append(f"  frames: none ({fr['skipped']})")
    if summary["feature_blocks"]:
        lines.append("  feature blocks: " + ", ".join(summary["feature_blocks"]))
    return "\n".join(lines)
