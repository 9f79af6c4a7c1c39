"""A corpus of malformed releases, generated here from every reader's sample: each one breaks a valid release in
one way, and `memo prepare` must answer with one line naming the file, the line, the field (and the value), exit
with 1, print no traceback and leave nothing behind.

The kinds: labels out of [0, 1] or not finite or text, counts that are fractional, infinite or negative, a row
with a field too many or too few, a blank line before the bad row (line numbers stay physical), a stray quote, a
byte that is not UTF-8, a file cut off in its last score, duplicate ids and ids that differ only by case, a caption
row for an unknown video and a scored video without a caption row. Hypothesis draws the row and the bad value.
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediaeval_memo.cli import cli
from mediaeval_memo.data.readers import DATASETS
from mediaeval_memo.data.sample import write_sample


@dataclass(frozen=True)
class Layout:
    """Where a reader's sample keeps its labelled scores and captions, and which columns hold what."""

    dataset: str
    sample: str
    scores: str  # the labelled scores file, relative to the release root
    id: str
    target: str
    label: str  # a label column besides the target (raw score, the other target)
    count: str | None  # an annotation count column
    captions: str | None = None  # a comma-separated caption file joined to `scores`, one row per video
    extra: tuple[str, ...] = ()  # prepare options


LAYOUTS = {
    "memento10k": Layout(
        "memento10k",
        "memento10k",
        "training_set/train_scores.csv",
        "video_id",
        "scores_normalized_short_term",
        "scores_raw_short_term",
        "annotations_short_term",
        "training_set/train_text_descriptions.csv",
    ),
    "trecvid": Layout(
        "trecvid",
        "trecvid",
        "training_set/train_scores.csv",
        "video_id",
        "scores_normalized_short_term",
        "scores_raw_short_term",
        "annotations_long_term",
    ),
    "trecvid2020": Layout(
        "trecvid", "trecvid2020", "training_set/scores_v2.csv", "video_id", "part_1_scores", "part_2_scores", "ann_1"
    ),
    "videomem": Layout(
        "videomem",
        "videomem",
        "dev-set/ground-truth/ground-truth_dev-set.csv",
        "video",
        "short-term_memorability",
        "long-term_memorability",
        "nb_short-term_annotations",
    ),
    "videm": Layout(
        "videm",
        "videm",
        "devset/devset_videolist_GT.csv",
        "id",
        "memorability_score",
        "brand_memorability",
        "nb_annotations",
    ),
    "movies": Layout(
        "movies",
        "movies",
        "scores.csv",
        "video_id",
        "score",
        "long",
        None,
        extra=("--column", "targets=memorability_score:score,long_term:long"),
    ),
}
assert {layout.dataset for layout in LAYOUTS.values()} == set(DATASETS), "a reader without a hostile corpus"


def write_movies(root: Path) -> Path:
    root.mkdir(parents=True)
    rows = [f"clip{i},0.{40 + i},0.{30 + i},scene {i}" for i in range(10)]
    (root / "scores.csv").write_text("video_id,score,long,title\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("hostile")
    out = {}
    for name, layout in LAYOUTS.items():
        if layout.sample == "movies":
            out[name] = write_movies(base / name)
        else:
            out[name] = write_sample(layout.sample, base / name, seed=0, n=8)
    return out


# ------------------------------------------------------------------------------------------- editing a table


def read_rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def render(rows: list[list[str]]) -> list[str]:
    """Each row as the CSV text it is written as (a quoted field may hold line breaks)."""
    out = []
    for row in rows:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(row)
        out.append(buffer.getvalue())
    return out


def write_rows(path: Path, texts: list[str]) -> None:
    path.write_text("".join(texts), encoding="utf-8")


def line_of(texts: list[str], index: int) -> int:
    """The physical line record `index` (0: the header) starts on."""
    return 1 + sum(t.count("\n") for t in texts[:index])


def prepare(root: Path, out: Path, layout: Layout) -> tuple[int, str]:
    args = ["prepare", layout.dataset, "--root", str(root), "--out", str(out), "--frames", "0", "--folds", "2"]
    result = CliRunner().invoke(cli, [*args, *layout.extra])
    return result.exit_code, result.output


def check_one_line(code: int, output: str, out: Path, prefix: str) -> None:
    assert code == 1, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(prefix), f"expected one line starting {prefix!r}, got:\n{output}"
    assert not out.exists(), "the output was written"
    assert not out.parent.exists() or list(out.parent.iterdir()) == [], "something was left beside the output"


CELL_CASES: dict[str, tuple[str, str]] = {
    # name: (the layout attribute naming the column, the value)
    "label_above_1": ("target", "7.5"),
    "label_below_0": ("target", "-2"),
    "label_nan": ("target", "nan"),
    "label_inf": ("label", "inf"),
    "label_text": ("target", "high"),
    "label_decimal_comma": ("target", "0,5"),  # quoted: one cell, not a plain decimal
    "label_missing": ("target", ""),
    "count_fraction": ("count", "12.7"),
    "count_inf": ("count", "inf"),
    "count_negative": ("count", "-3"),
    "id_unsafe": ("id", "../x"),
}


@pytest.mark.parametrize("kind", sorted(CELL_CASES))
@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_a_bad_cell_is_one_line_naming_file_line_and_field(
    name: str, kind: str, releases: dict[str, Path], tmp_path: Path
) -> None:
    layout = LAYOUTS[name]
    attribute, value = CELL_CASES[kind]
    column = getattr(layout, attribute)
    if column is None:
        pytest.skip(f"{name} has no {attribute} column")
    if layout.dataset == "movies" and not value:
        pytest.skip("movies: a row without its score is a test-split row (documented)")
    root = shutil.copytree(releases[name], tmp_path / "r")
    rows = read_rows(root / layout.scores)
    rows[3][rows[0].index(column)] = value
    texts = render(rows)
    write_rows(root / layout.scores, texts)
    code, output = prepare(root, tmp_path / "o" / "out", layout)
    prefix = f"error: {layout.scores}:{line_of(texts, 3)}: {column} {value!r}:"
    if attribute == "id":  # the caption row of the video whose id was replaced is then an orphan, reported after
        assert code == 1 and output.splitlines()[0].startswith(prefix), output
        assert not (tmp_path / "o" / "out").exists()
        return
    check_one_line(code, output, tmp_path / "o" / "out", prefix)


ROW_CASES = ("extra_field", "missing_field", "blank_lines_before", "stray_quote", "latin1", "cut_off")


@pytest.mark.parametrize("kind", ROW_CASES)
@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_a_bad_row_or_file_is_one_line_on_the_right_line(
    name: str, kind: str, releases: dict[str, Path], tmp_path: Path
) -> None:
    layout = LAYOUTS[name]
    root = shutil.copytree(releases[name], tmp_path / "r")
    path = root / layout.scores
    rows = read_rows(path)
    texts = render(rows)
    header = rows[0]
    if kind == "extra_field":
        texts[3] = texts[3].rstrip("\n") + ",surplus\n"
        prefix = f"{line_of(texts, 3)}: field {len(header) + 1} 'surplus': {len(header) + 1} fields where the header"
    elif kind == "missing_field":
        texts[3] = "".join(render([rows[3][:-1]]))
        prefix = f"{line_of(texts, 3)}: {header[-1]}: {len(header) - 1} fields where the header"
    elif kind == "blank_lines_before":
        texts[2:2] = ["\n", "\n"]  # blank lines are skipped but counted: the bad row keeps its physical line
        cells = list(rows[3])
        cells[header.index(layout.target)] = "7.5"
        texts[5] = "".join(render([cells]))
        prefix = f"{line_of(texts, 5)}: {layout.target} '7.5': out of range"
    elif kind == "stray_quote":
        texts[3] = render([rows[3][:-1]])[0].rstrip("\n") + ',"' + rows[3][-1] + "\n"  # a quote that never closes
        prefix = f"{line_of(texts, 3)}: "
    elif kind == "latin1":
        write_rows(path, texts)
        data = path.read_bytes()
        at = data.index(texts[3].encode("utf-8"))
        path.write_bytes(data[:at] + "caf\xe9 ".encode("latin-1") + data[at:])
        code, output = prepare(root, tmp_path / "o" / "out", layout)
        check_one_line(code, output, tmp_path / "o" / "out", f"error: {layout.scores}:{line_of(texts, 3)}: byte '0xe9'")
        return
    else:  # cut off in the middle of the last row's last value
        texts[-1] = texts[-1].rstrip("\n")[:-2]
        prefix = f"{line_of(texts, len(texts))}: the last line has no line end"
        if layout.dataset == "videomem":  # the real 2019 files end so: read, and said once
            write_rows(path, texts)
            code, output = prepare(root, tmp_path / "o" / "out", layout)
            assert code == 0 and f"note: {layout.scores}: the last line has no line end" in output, output
            return
    write_rows(path, texts)
    code, output = prepare(root, tmp_path / "o" / "out", layout)
    check_one_line(code, output, tmp_path / "o" / "out", f"error: {layout.scores}:{prefix}")


@pytest.mark.parametrize("kind", ["duplicate", "case_variant"])
@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_ids_that_repeat_or_differ_only_by_case(
    name: str, kind: str, releases: dict[str, Path], tmp_path: Path
) -> None:
    layout = LAYOUTS[name]
    root = shutil.copytree(releases[name], tmp_path / "r")
    rows = read_rows(root / layout.scores)
    column = rows[0].index(layout.id)
    first = rows[2][column]
    twin = first if kind == "duplicate" else first.swapcase()
    if twin == first and kind == "case_variant":
        pytest.skip("an id without letters")
    rows[4][column] = twin
    texts = render(rows)
    write_rows(root / layout.scores, texts)
    code, output = prepare(root, tmp_path / "o" / "out", layout)
    expected = "duplicate video id" if kind == "duplicate" else "differs only by case from video id"
    prefix = f"error: {layout.scores}:{line_of(texts, 4)}: {layout.id} {twin!r}: {expected}"
    assert "Traceback" not in output
    # A caption file joined to the scores then also misses a row: the first line is the id's.
    assert code == 1 and output.splitlines()[0].startswith(prefix), output
    assert not (tmp_path / "o" / "out").exists()


@pytest.mark.parametrize("name", ["memento10k", "trecvid", "videomem"])
@pytest.mark.parametrize("side", ["caption_for_unknown_video", "video_without_caption"])
def test_orphans_on_either_side_of_the_captions_join(
    name: str, side: str, releases: dict[str, Path], tmp_path: Path
) -> None:
    layout = LAYOUTS[name]
    root = shutil.copytree(releases[name], tmp_path / "r")
    captions = {
        "memento10k": "training_set/train_text_descriptions.csv",
        "trecvid": "training_set/train_text_descriptions.csv",
        "videomem": "dev-set/dev-set_video-captions.txt",
    }[name]
    path = root / captions
    scores = read_rows(root / layout.scores)
    vid = scores[1][scores[0].index(layout.id)]
    column = "video" if name == "videomem" else "video_id"
    if name == "videomem":  # tab-separated, no header, no quoting
        lines = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
        lines[-1] = lines[-1].rstrip("\r\n") + "\r\n"  # the 2019 files end without a line end
        unknown, kept = "stranger\twho?\r\n", [line for line in lines if not line.startswith(vid + "\t")]
        added = len(lines) + 1
    else:
        rows = read_rows(path)
        stranger = ["stranger", *(["who?"] * (len(rows[0]) - 1))]
        texts = render(rows)
        unknown, kept = render([stranger])[0], [t for t, row in zip(texts, rows, strict=True) if row[0] != vid]
        added = line_of([*texts, unknown], len(texts))
        lines = texts
    if side == "caption_for_unknown_video":
        path.write_text("".join([*lines, unknown]), encoding="utf-8")
        prefix = f"error: {captions}:{added}: {column} 'stranger': caption row for an unknown video"
    else:
        assert len(kept) < len(lines)
        path.write_text("".join(kept), encoding="utf-8")
        prefix = f"error: {layout.scores}:2: {layout.id} {vid!r}: no caption row in {captions}"
    code, output = prepare(root, tmp_path / "o" / "out", layout)
    check_one_line(code, output, tmp_path / "o" / "out", prefix)


# ------------------------------------------------------------------------------------------ drawn by Hypothesis

NOT_A_SCORE = st.one_of(
    # Outside [0, 1] by more than the rounding slack the engine allows a computed score (1e-9).
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not -1e-9 <= x <= 1 + 1e-9).map(repr),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "1e999", "0x1p-2", "1_0", "½", "0.5.1", "--1", "  ", "none"]),
    st.text(alphabet="abcxyz%$", min_size=1, max_size=6),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(sorted(LAYOUTS)), row=st.integers(1, 6), value=NOT_A_SCORE)
def test_any_value_that_is_not_a_score_is_named_where_it_is(
    name: str, row: int, value: str, releases: dict[str, Path]
) -> None:
    layout = LAYOUTS[name]
    with tempfile.TemporaryDirectory() as tmp:
        root = shutil.copytree(releases[name], Path(tmp) / "r")
        rows = read_rows(root / layout.scores)
        if layout.dataset == "movies" and not value.strip():
            return  # movies: a row without its score is a test-split row (documented)
        rows[row][rows[0].index(layout.target)] = value
        texts = render(rows)
        write_rows(root / layout.scores, texts)
        code, output = prepare(root, Path(tmp) / "o" / "out", layout)
        shown = repr(value.strip())
        prefix = f"error: {layout.scores}:{line_of(texts, row)}: {layout.target} {shown}: "
        check_one_line(code, output, Path(tmp) / "o" / "out", prefix)


@pytest.mark.parametrize(
    ("line", "expected"), [("video1.webm\n", "caption: 1 fields"), ("a\tb\tc\n", "field 3 'c': 3")]
)
def test_a_tab_separated_caption_line_needs_exactly_one_tab(
    releases: dict[str, Path], tmp_path: Path, line: str, expected: str
) -> None:
    layout = LAYOUTS["videomem"]
    root = shutil.copytree(releases["videomem"], tmp_path / "r")
    path = root / "dev-set" / "dev-set_video-captions.txt"
    lines = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    lines.insert(2, line)
    path.write_text("".join(lines), encoding="utf-8")
    code, output = prepare(root, tmp_path / "o" / "out", layout)
    check_one_line(code, output, tmp_path / "o" / "out", f"error: dev-set/dev-set_video-captions.txt:3: {expected}")
