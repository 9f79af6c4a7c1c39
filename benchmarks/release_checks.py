"""What the release-checking engine and two table-schema libraries report on hostile Memento10k scores files, and
how long each takes on the real 7,000-row `train_scores.csv`.

Hostile copies of the real file are written to a temporary folder (one field too many or too few, a count of 12.7
or inf, a label of 7.5, a Latin-1 byte, a file cut off in its last score, a blank line before a text label, a
stray quote). The engine (`data/tables.py`, the Memento10k declaration) always runs; frictionless and pandera run
when they are installed (they are not dependencies: `pip install frictionless pandera` in a scratch venv).
Usage: python benchmarks/release_checks.py [ROOT] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mediaeval_memo.core.errors import InputError, ProblemList
from mediaeval_memo.data.memento10k import SCORES
from mediaeval_memo.data.tables import IdRegistry, read_declared

_REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = next(
    (p / "shared" / "data" / "memento10k" for p in (_REPO.parent, _REPO.parent.parent) if (p / "shared").is_dir()),
    _REPO.parent / "shared" / "data" / "memento10k",
)


def hostile_copies(source: Path, folder: Path) -> list[Path]:
    lines = source.read_text(encoding="utf-8-sig").splitlines(keepends=True)

    def cells(i: int, column: int, value: str) -> list[str]:
        out = list(lines)
        parts = out[i].rstrip("\n").split(",")
        parts[column] = value
        out[i] = ",".join(parts) + "\n"
        return out

    cases = {
        "ok": lines,
        "extra_field": [*lines[:5], lines[5].rstrip("\n") + ",extra\n", *lines[6:]],
        "short_field": [*lines[:5], lines[5].rsplit(",", 1)[0] + "\n", *lines[6:]],
        "count_12_7": cells(5, 2, "12.7"),
        "count_inf": cells(5, 2, "inf"),
        "label_7_5": cells(5, 4, "7.5"),
        "truncated": [*lines[:-1], lines[-1][:-6]],
        "blank_then_text": [*lines[:3], "\n", *cells(8, 4, "abc")[3:]],
        "stray_quote": cells(5, 1, '"' + lines[5].split(",")[1]),
    }
    paths = []
    for name, text in cases.items():
        paths.append(folder / f"{name}.csv")
        paths[-1].write_text("".join(text), encoding="utf-8")
    latin = folder / "latin1.csv"
    before, after = "".join(lines[:5]).encode(), "".join(lines[5:]).encode()
    latin.write_bytes(before + "x,caf\xe9,1,0.5,0.5,0\n".encode("latin-1") + after)
    return [*paths, latin]


def engine(path: Path) -> str:
    problems = ProblemList()
    try:
        read_declared(path, SCORES, problems, root=path.parent, ids=IdRegistry(problems))
        problems.raise_if_any()
    except InputError as exc:
        return str(exc.problems[0])
    return "accepted"


def frictionless_check() -> Callable[[Path], str] | None:
    try:
        from frictionless import Resource, Schema, fields, validate
    except ImportError:
        return None
    schema = Schema(
        fields=[
            fields.StringField(name="video_id", constraints={"required": True, "unique": True}),
            fields.StringField(name="video_url"),
            fields.IntegerField(name="annotations_short_term", constraints={"minimum": 0}),
            fields.NumberField(name="scores_raw_short_term", constraints={"minimum": 0, "maximum": 1}),
            fields.NumberField(
                name="scores_normalized_short_term", constraints={"required": True, "minimum": 0, "maximum": 1}
            ),
            fields.NumberField(name="decay_alpha"),
        ]
    )

    def check(path: Path) -> str:
        try:
            resource = Resource(path=path.name, basepath=str(path.parent), schema=schema)
            errors = validate(resource).flatten(["rowNumber", "fieldName", "type"])
        except Exception as exc:  # a library's crash is what it reports here
            return f"raised {type(exc).__name__}"
        return str(errors[0]) if errors else "accepted"

    return check


def pandera_check() -> Callable[[Path], str] | None:
    try:
        import pandas as pd
        import pandera.pandas as pa
    except ImportError:
        return None
    schema = pa.DataFrameSchema(
        {
            "video_id": pa.Column(str, unique=True),
            "video_url": pa.Column(str),
            "annotations_short_term": pa.Column(int, pa.Check.ge(0)),
            "scores_raw_short_term": pa.Column(float, pa.Check.in_range(0, 1)),
            "scores_normalized_short_term": pa.Column(float, pa.Check.in_range(0, 1)),
            "decay_alpha": pa.Column(float),
        },
        strict=True,
    )

    def check(path: Path) -> str:
        try:
            schema.validate(pd.read_csv(path, dtype={"video_id": str}, encoding="utf-8-sig"), lazy=True)
        except pa.errors.SchemaErrors as exc:
            return str(exc.failure_cases[["column", "index", "failure_case"]].iloc[0].to_dict())
        except Exception as exc:  # a library's crash is what it reports here
            return f"raised {type(exc).__name__}"
        return "accepted"

    return check


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    source = args.root / "training_set" / "train_scores.csv"
    if not source.is_file():
        print(f"no Memento10k release at {args.root}", file=sys.stderr)
        return 1
    checks = {"engine": engine, "frictionless": frictionless_check(), "pandera": pandera_check()}
    with tempfile.TemporaryDirectory() as tmp:
        cases = hostile_copies(source, Path(tmp))
        for name, check in checks.items():
            if check is None:
                print(f"{name}: not installed")
                continue
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                check(cases[0])
                times.append(time.perf_counter() - start)
            print(f"{name}: the real 7000-row file in {statistics.median(times):.3f} s (median of {args.repeat})")
            for path in cases:
                print(f"  {path.stem:16s} {check(path)[:110]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
