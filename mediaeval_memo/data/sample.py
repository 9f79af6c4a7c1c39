"""The embedded sample: small, deterministic synthetic releases in the official layouts, with real tiny videos.

`write_sample(layout, root, seed=0, n=None)` writes one release under `root` that `memo prepare` reads exactly as
it reads the real one, quirks included (UTF-8 BOMs, CRLF line ends, quoted captions with commas and line breaks,
the trailing underscore of VIDEM's `testset_videolist_.csv`, empty or absent transcripts).

Every video has a hidden memorability `z`. The scores follow `z`, and so do two things a model can see: the
frames' colour (red-orange for memorable clips, grey-blue for forgettable ones) and the words of the captions and
transcripts (people, animals and action for memorable clips, scenery for forgettable ones). Both are noisy, so a
model learns something real but nothing perfect: a GBT on caption embeddings or colour histograms of ~150 videos
reaches a clearly positive Spearman. Nothing is downloaded; the same seed writes the same files.
"""

from __future__ import annotations

import csv
import io
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LAYOUTS = ("memento10k", "trecvid", "trecvid2020", "videomem", "videm")

MEMORABLE = [
    "a baby",
    "a dog",
    "a clown",
    "a woman in a red dress",
    "a man in a costume",
    "a cat",
    "two kids",
    "a dancer",
]
MEMORABLE_ACTIONS = ["laughs at the camera", "jumps into a pool", "juggles fire", "falls off a bike", "sings loudly"]
FORGETTABLE = ["the sky", "a road", "some trees", "a field", "a building", "the sea", "a parking lot", "clouds"]
FORGETTABLE_ACTIONS = ["is seen from far away", "is shown slowly", "stays still", "passes by", "is filmed at dusk"]
PLACES = ["outside", "in a city", "at night", "on a sunny day", "in a park", "near a lake"]
ACTIONS = ["adult+female+singing", "dog+barking", "juggling", "surfing", "cooking", "running", "kissing", "raining"]
BRANDS = [
    "Acme Drinks",
    "Northwind Cars",
    "Globex Phones",
    "Initech Bank",
    "Umbrella Foods",
    "Stark Air",
    "Wayne Sports",
    "Hooli Search",
    "Soylent Snacks",
    "Vandelay Shoes",
    "Tyrell Beauty",
    "Cyberdyne Toys",
    "Oscorp Energy",
    "Wonka Sweets",
    "Duff Beverages",
    "Gringotts Credit",
    "Monarch Travel",
    "Aperture Labs",
]
CATEGORIES = ["Autos & Vehicles", "Entertainment", "People & Blogs", "Science & Technology", "Sports"]


@dataclass(frozen=True)
class Clip:
    """The visible content of one synthetic video: its size, frame count, colours and moving square."""

    width: int
    height: int
    n_frames: int
    colour: tuple[int, int, int]
    square: tuple[int, int, int]


def _sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-x))


def _clip_for(z: float, rng: np.random.Generator, n_frames: int | None = None) -> Clip:
    """Colour follows z: warm and bright when memorable, cold and dim when not; noise keeps it imperfect."""
    warm = float(np.clip(z + rng.normal(0, 0.8), -2.5, 2.5))
    colour = (
        int(np.clip(130 + 45 * warm + rng.normal(0, 12), 0, 255)),
        int(np.clip(110 + 10 * warm + rng.normal(0, 20), 0, 255)),
        int(np.clip(130 - 45 * warm + rng.normal(0, 12), 0, 255)),
    )
    square = tuple(int(v) for v in rng.integers(0, 256, 3))
    width, height = [(64, 64), (96, 72), (80, 64)][int(rng.integers(0, 3))]
    frames = int(rng.integers(8, 17)) if n_frames is None else n_frames
    return Clip(width, height, frames, colour, (square[0], square[1], square[2]))


def _render(clip: Clip, index: int) -> np.ndarray:
    """Frame `index`: the clip's colour with a square moving across it (so frames differ in time)."""
    img = np.empty((clip.height, clip.width, 3), dtype=np.uint8)
    img[:] = clip.colour
    side = clip.height // 4
    x = int((clip.width - side) * index / max(1, clip.n_frames - 1))
    y = (clip.height - side) // 2
    img[y : y + side, x : x + side] = clip.square
    return img


def write_video(path: Path, clip: Clip, fps: int = 8) -> None:
    """A real video written by PyAV: MPEG-4 in .mp4 (Memento10k), VP8 in .webm (VideoMem)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        # One encoder thread: libvpx's default thread pool makes these tiny clips 30x slower on a busy machine.
        webm = path.suffix == ".webm"
        options = {"threads": "1", "deadline": "realtime", "cpu-used": "8"} if webm else {"threads": "1"}
        stream = container.add_stream("libvpx" if webm else "mpeg4", rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = clip.width, clip.height, "yuv420p"
        for i in range(clip.n_frames):
            frame = av.VideoFrame.from_ndarray(_render(clip, i), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _caption(z: float, rng: np.random.Generator) -> str:
    if rng.random() < float(_sigmoid(1.8 * z)):
        subject, action = rng.choice(MEMORABLE), rng.choice(MEMORABLE_ACTIONS)
    else:
        subject, action = rng.choice(FORGETTABLE), rng.choice(FORGETTABLE_ACTIONS)
    text = f"{subject} {action} {rng.choice(PLACES)}"
    return text[0].upper() + text[1:] + ("." if rng.random() < 0.5 else "")


def _csv(
    rows: Sequence[Sequence[object]],
    *,
    bom: bool = False,
    crlf: bool = False,
    delimiter: str = ",",
    final_newline: bool = True,
) -> bytes:
    buf = io.StringIO()
    ending = "\r\n" if crlf else "\n"
    csv.writer(buf, delimiter=delimiter, lineterminator=ending).writerows(rows)
    text = buf.getvalue() if final_newline else buf.getvalue().removesuffix(ending)
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


# ---------------------------------------------------------------- Memento10k, MediaEval 2021 layout


def write_memento10k(root: Path, seed: int = 0, n_train: int = 160, n_dev: int = 40, n_test: int = 40) -> Path:
    """training_set/, dev_set/ (scores with a BOM, CRLF captions), test_set/ (captions only) and videos/.

    Labelled videos are stored under their official names (`<action>_<base>.mp4`, rebuilt from the URL); test
    videos, whose URLs the release withholds, as `<video_id>.mp4`: the two names the reader looks for.
    """
    rng = np.random.default_rng(seed)
    total = n_train + n_dev + n_test
    ids = [str(v) for v in rng.choice(np.arange(1, 10 * total + 10), size=total, replace=False)]
    splits = [
        ("training_set", "train", ids[:n_train]),
        ("dev_set", "dev", ids[n_train : n_train + n_dev]),
        ("test_set", "test", ids[n_train + n_dev :]),
    ]
    for folder, prefix, split_ids in splits:
        score_rows: list[Sequence[object]] = [
            [
                "video_id",
                "video_url",
                "annotations_short_term",
                "scores_raw_short_term",
                "scores_normalized_short_term",
                "decay_alpha",
            ]
        ]
        caption_rows: list[Sequence[object]] = [["video_id"] + [f"description_{i}" for i in range(5)]]
        for vid in split_ids:
            z = float(rng.normal())
            score = float(np.clip(0.80 + 0.06 * z + rng.normal(0, 0.03), 0.40, 1.0))
            action = str(rng.choice(ACTIONS))
            base = f"clip-{vid}_{int(rng.integers(1, 40))}"
            url = f"https://data.csail.mit.edu/soundnet/actions3/{action}/{base}.mp4"
            captions = [_caption(z, rng) for _ in range(5)]
            if rng.random() < 0.1:
                captions[1] = captions[1] + ",\nthen the camera moves"  # quoted, with a comma and a line break
            score_rows.append(
                [
                    vid,
                    url,
                    int(rng.integers(70, 110)),
                    round(score + rng.normal(0, 0.005), 6),
                    round(score, 6),
                    round(float(rng.normal(-0.0005, 0.001)), 8),
                ]
            )
            caption_rows.append([vid, *captions])
            name = f"{action.replace('+', '-')}_{base}.mp4" if prefix != "test" else f"{vid}.mp4"
            write_video(root / "videos" / name, _clip_for(z, rng))
        dev = prefix == "dev"
        if prefix != "test":
            _write(root / folder / f"{prefix}_scores.csv", _csv(score_rows, bom=dev))
        _write(root / folder / f"{prefix}_text_descriptions.csv", _csv(caption_rows, bom=dev, crlf=dev))
    return root


# ---------------------------------------------------------------- TRECVid subset (MediaEval 2021 and 2020 layouts)

TRECVID_2021_HEADER = [
    "video_id",
    "video_url",
    "annotations_short_term",
    "annotations_long_term",
    "scores_raw_short_term",
    "scores_raw_long_term",
    "scores_normalized_short_term",
    "decay_alpha",
]
TRECVID_2020_HEADER = ["video_id", "video_url", "ann_1", "ann_2", "part_1_scores", "part_2_scores"]


def write_trecvid(
    root: Path, seed: int = 0, year: int = 2021, n_train: int = 60, n_dev: int = 110, n_test: int = 50
) -> Path:
    """The TRECVid subset: scores with short- and long-term labels, captions one per row (1 to 4 rows per video,
    one quoted caption with a comma and a line break now and then), BOMs on some files, videos as `<id>.mp4`.

    2021: `{training,dev,test}_set/{train,dev,test}_{scores,text_descriptions}.csv` (test: captions only).
    2020: `training_set/scores_v2.csv` + `text_descriptions.csv`, `dev_set/dev_scores.csv` +
    `dev_text_descriptions.csv`, `test_set/test_text_descriptions.csv`. The default sizes are a tenth of the real
    2021 release (588 / 1116 / 500).
    """
    if year not in (2020, 2021):
        raise ValueError(f"TRECVid sample years are 2020 and 2021, not {year}")
    rng = np.random.default_rng(seed)
    total = n_train + n_dev + n_test
    ids = [str(v) for v in rng.choice(np.arange(1, 10 * total + 10), size=total, replace=False)]
    names = {
        2021: [
            ("training_set", "train_scores.csv", "train_text_descriptions.csv"),
            ("dev_set", "dev_scores.csv", "dev_text_descriptions.csv"),
            ("test_set", "", "test_text_descriptions.csv"),
        ],
        2020: [
            ("training_set", "scores_v2.csv", "text_descriptions.csv"),
            ("dev_set", "dev_scores.csv", "dev_text_descriptions.csv"),
            ("test_set", "", "test_text_descriptions.csv"),
        ],
    }[year]
    parts = [ids[:n_train], ids[n_train : n_train + n_dev], ids[n_train + n_dev :]]
    for (folder, scores_name, captions_name), split_ids in zip(names, parts, strict=True):
        header = TRECVID_2021_HEADER if year == 2021 else TRECVID_2020_HEADER
        score_rows: list[Sequence[object]] = [header]
        caption_rows: list[Sequence[object]] = [["video_id", "video_url", "description"]]
        for vid in split_ids:
            z = float(rng.normal())
            short = float(np.clip(0.86 + 0.06 * z + rng.normal(0, 0.03), 0.3, 1.0))
            long = float(np.clip(0.72 + 0.08 * z + rng.normal(0, 0.12), 0.0, 1.0))
            n_short, n_long = int(rng.integers(15, 40)), int(rng.integers(4, 15))
            url = f"https://example.org/trecvid/vtt/{vid}.mp4"
            if year == 2021:
                raw = float(np.clip(short + rng.normal(0, 0.01), 0.0, 1.0))
                alpha = round(float(rng.normal(-0.0005, 0.001)), 8)
                score_rows.append([vid, url, n_short, n_long, round(raw, 6), round(long, 6), round(short, 6), alpha])
            else:
                score_rows.append([vid, url, n_short, n_long, round(short, 6), round(long, 6)])
            for i in range(int(rng.integers(1, 5))):
                caption = _caption(z, rng)
                if i == 1 and rng.random() < 0.2:
                    caption += ",\nthen the camera moves"  # quoted, with a comma and a line break
                caption_rows.append([vid, url, caption])
            write_video(root / folder / "videos" / f"{vid}.mp4", _clip_for(z, rng))
        dev = folder == "dev_set"
        if scores_name:
            _write(root / folder / scores_name, _csv(score_rows, bom=dev, crlf=dev))
        # The real 2021 test captions end without a line end; the sample's do too.
        final = folder != "test_set" or year != 2021
        _write(root / folder / captions_name, _csv(caption_rows, bom=not dev, final_newline=final))
    return root


# ---------------------------------------------------------------- VideoMem (MediaEval 2019 layout)


def write_videomem(root: Path, seed: int = 0, n_dev: int = 80, n_test: int = 20) -> Path:
    """dev-set/ (ground truth with a BOM, tab-separated CRLF captions, sources/*.webm) and test-set/ (captions,
    sources/). Short-term and long-term scores both follow the hidden memorability, long-term more loosely."""
    rng = np.random.default_rng(seed)
    numbers = rng.choice(np.arange(1, 20 * (n_dev + n_test) + 20), size=n_dev + n_test, replace=False)
    for prefix, split_numbers in (("dev-set", numbers[:n_dev]), ("test-set", numbers[n_dev:])):
        ground_truth: list[Sequence[object]] = [
            [
                "video",
                "short-term_memorability",
                "nb_short-term_annotations",
                "long-term_memorability",
                "nb_long-term_annotations",
            ]
        ]
        captions: list[Sequence[object]] = []
        for number in split_numbers:
            name = f"video{int(number)}.webm"
            z = float(rng.normal())
            short = float(np.clip(0.86 + 0.06 * z + rng.normal(0, 0.03), 0.3, 1.0))
            long = float(np.clip(0.78 + 0.06 * z + rng.normal(0, 0.10), 0.0, 1.0))
            ground_truth.append(
                [name, round(short, 3), int(rng.integers(30, 45)), round(long, 3), int(rng.integers(9, 15))]
            )
            captions.append([name, _caption(z, rng).lower().rstrip(".").replace(" ", "-")])
            write_video(root / prefix / "sources" / name, _clip_for(z, rng))
        if prefix == "dev-set":
            # As in the real 2019 release, the files end without a line end.
            _write(
                root / prefix / "ground-truth" / "ground-truth_dev-set.csv",
                _csv(ground_truth, bom=True, final_newline=False),
            )
            _write(
                root / prefix / "dev-set_video-captions.txt",
                _csv(captions, crlf=True, delimiter="\t", final_newline=False),
            )
        else:
            _write(
                root / prefix / "test-set_videos-captions.txt",
                _csv(captions, crlf=True, delimiter="\t", final_newline=False),
            )
    return root


# ---------------------------------------------------------------- VIDEM (Subtask 2)


def _youtube_id(rng: np.random.Generator) -> str:
    alphabet = string.ascii_letters + string.digits + "-_"
    return "".join(alphabet[int(i)] for i in rng.integers(0, len(alphabet), 11))


def _histograms(images: Sequence[np.ndarray], bins: int = 8, hsv: bool = False) -> np.ndarray:
    """(3, bins) colour histograms, one row per channel, over the pixels of `images`."""
    from PIL import Image

    pixels = np.concatenate(
        [(np.asarray(Image.fromarray(img).convert("HSV")) if hsv else img).reshape(-1, 3) for img in images]
    )
    return np.stack([np.histogram(pixels[:, c], bins=bins, range=(0, 256))[0] / len(pixels) for c in range(3)]).astype(
        np.float32
    )


def write_videm(
    root: Path,
    seed: int = 0,
    n_dev: int = 60,
    n_test: int = 20,
    dev_channels: int = 12,
    test_channels: int = 4,
) -> Path:
    """devset/, testset/ (video lists, organiser features), devset-stt/, testset-stt/ and frames/ (1 fps)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    brands = list(BRANDS)
    rng.shuffle(brands)
    if dev_channels + test_channels > len(brands):
        raise ValueError(f"at most {len(brands)} channels in the sample")
    r3d_projection = rng.normal(size=(6, 512)).astype(np.float32)
    vit_projection = rng.normal(size=(6, 768)).astype(np.float32)
    header = [
        "id",
        "video_id",
        "channelName",
        "title",
        "description",
        "tags",
        "durationSeconds",
        "categoryName",
        "viewsCount",
        "likesCount",
        "commentsCount",
        "engagementRate",
        "url",
    ]
    index = 0
    for prefix, n, channels in [
        ("devset", n_dev, brands[:dev_channels]),
        ("testset", n_test, brands[dev_channels : dev_channels + test_channels]),
    ]:
        labelled = prefix == "devset"
        effect = {c: float(rng.normal(0, 0.6)) for c in channels}
        rows: list[Sequence[object]] = [
            header + (["nb_annotations", "memorability_score", "brand_memorability"] if labelled else [])
        ]
        for i in range(n):
            channel = channels[i % len(channels)] if i < len(channels) else str(rng.choice(channels))
            vid = _youtube_id(rng)
            z = float(rng.normal()) + effect[channel]
            seconds = int(rng.integers(5, 11))
            clip = _clip_for(z, rng, n_frames=seconds)
            images = [_render(clip, t) for t in range(seconds)]
            for t, img in enumerate(images):
                path = root / "frames" / vid / f"frame_{t + 1:04d}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).save(path, "JPEG", quality=90)
            sampled = [images[0], images[len(images) // 2], images[-1]]
            # As shipped: one row per sampled frame (first, middle, last), except the clip-level R3D vector.
            colour_stats = np.stack(
                [np.concatenate([img.mean(axis=(0, 1)), img.std(axis=(0, 1))]) / 255.0 for img in sampled]
            )
            feats = {
                "HSVHistogram": np.stack([_histograms([img], bins=8, hsv=True).reshape(-1) for img in sampled]),
                "RGBHistogram": np.stack([_histograms([img], bins=8).reshape(-1) for img in sampled]),
                "ViT": colour_stats @ vit_projection + rng.normal(0, 0.05, (3, 768)),
                "R3D": colour_stats.mean(axis=0) @ r3d_projection + rng.normal(0, 0.05, 512),
            }
            for name, array in feats.items():
                path = root / prefix / "features" / name / f"{vid}.npy"
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, array.astype(np.float32))
            roll = rng.random()
            stt = root / f"{prefix}-stt" / f"{vid}.txt"
            if roll < 0.1:
                pass  # no transcript file at all, as for some real commercials
            elif roll < 0.2:
                _write(stt, "")
            else:
                _write(stt, " ".join(_caption(z, rng) for _ in range(3)))
            views = int(rng.integers(1_000, 5_000_000))
            likes = int(views * rng.uniform(0.001, 0.05))
            comments = int(likes * rng.uniform(0.01, 0.2))
            title = f"{channel} | {_caption(z, rng)}"
            description = f"{_caption(z, rng)}\nVisit {channel.split()[0].lower()}.example for more, or don't."
            row: list[object] = [
                vid,
                index,
                channel,
                title,
                description,
                "ad,commercial," + channel.split()[1].lower(),
                seconds,
                str(rng.choice(CATEGORIES)),
                views,
                likes,
                comments,
                round((likes + comments) / views, 6),
                f"https://www.youtube.com/watch?v={vid}",
            ]
            index += 1
            if labelled:
                memorability = float(np.clip(0.55 + 0.15 * z + rng.normal(0, 0.05), 0.0, 1.0))
                brand = float(np.clip(0.45 + 0.7 * (memorability - 0.55) + rng.normal(0, 0.08), 0.0, 1.0))
                row += [int(rng.integers(12, 52)), round(memorability, 6), round(brand, 6)]
            rows.append(row)
        name = "devset_videolist_GT.csv" if labelled else "testset_videolist_.csv"
        _write(root / prefix / name, _csv(rows))
    return root


def write_sample(layout: str, root: str | Path, seed: int = 0, n: int | None = None) -> Path:
    """Write the sample release of `layout` under `root`; `n` sets the labelled videos (other splits scale).

    memento10k: n train (default 160) + n/4 dev + n/4 test; trecvid (2021 layout) and trecvid2020: n train
    (default 60) + 11n/6 dev + 5n/6 test; videm: n dev (default 60) over n/5 channels + n/3 test over 4 other
    channels; videomem: n dev (default 80) + n/4 test.
    """
    root = Path(root)
    if layout == "memento10k":
        n = 160 if n is None else n
        return write_memento10k(root, seed, n, max(1, n // 4), max(1, n // 4))
    if layout in ("trecvid", "trecvid2020"):
        n = 60 if n is None else n
        return write_trecvid(
            root, seed, 2020 if layout == "trecvid2020" else 2021, n, max(1, n * 11 // 6), max(1, n * 5 // 6)
        )
    if layout == "videm":
        n = 60 if n is None else n
        return write_videm(root, seed, n, max(4, n // 3), dev_channels=max(2, min(14, n // 5)), test_channels=4)
    if layout == "videomem":
        n = 80 if n is None else n
        return write_videomem(root, seed, n, max(1, n // 4))
    raise ValueError(f"unknown sample layout {layout!r} (accepted: {', '.join(LAYOUTS)})")
