"""`memo demo`: the whole toolkit on the embedded sample, on CPU, with nothing downloaded.

The demo is a list of small steps run in order over one `DemoContext`. Each capability appends its step to
`STEPS` (features, training, packaging, validation, scoring, the leaderboard), reading what earlier steps left in
the context (`releases`, `prepared`, ...) and adding its own results there.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mediaeval_memo.demo_pipeline import PIPELINE_STEPS
from mediaeval_memo.errors import InputError, Problem

MARKER = ".memo-demo"
LAYOUTS = ("memento10k", "videomem", "videm")


@dataclass
class DemoContext:
    """What the steps share: the output folder, where to print, and what each step produced."""

    out: Path
    echo: Callable[[str], None]
    seed: int = 0
    workers: int = 1
    releases: dict[str, Path] = field(default_factory=dict)
    prepared: dict[str, Path] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)


DemoStep = Callable[[DemoContext], None]


def write_samples(ctx: DemoContext) -> None:
    """Write the sample releases (Memento10k 2021, VideoMem, VIDEM layouts) under releases/."""
    from mediaeval_memo.data.sample import write_sample

    for layout in LAYOUTS:
        ctx.releases[layout] = write_sample(layout, ctx.out / "releases" / layout, seed=ctx.seed)
        ctx.echo(f"  wrote the {layout} sample release to {ctx.releases[layout]}")


def prepare_samples(ctx: DemoContext) -> None:
    """Prepare each sample release into prepared/<layout> (item table, manifest, 5 folds, 3 frames per video)."""
    from mediaeval_memo.data.prepare import PrepareOptions, prepare

    for layout, root in ctx.releases.items():
        options = PrepareOptions(frames=3, folds=5, seed=ctx.seed, workers=ctx.workers)
        out = ctx.out / "prepared" / layout
        ctx.prepared[layout] = prepare(layout, root, out, options, log=lambda m: ctx.echo(f"  {m}")).out


def show_summaries(ctx: DemoContext) -> None:
    """Print what `memo info` says about each prepared dataset."""
    from mediaeval_memo.data.info import render_summary, summarize

    for path in ctx.prepared.values():
        ctx.echo(render_summary(summarize(path)))


STEPS: list[tuple[str, DemoStep]] = [
    ("write the sample releases", write_samples),
    ("prepare them", prepare_samples),
    ("summarize the prepared datasets", show_summaries),
    *PIPELINE_STEPS,
]


def run_demo(
    out: Path,
    *,
    force: bool,
    echo: Callable[[str], None],
    seed: int = 0,
    workers: int = 1,
    steps: list[tuple[str, DemoStep]] | None = None,
) -> DemoContext:
    """Run every step into `out`. With `force`, a previous demo output there is replaced (and nothing else is)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not force:
            raise InputError(
                Problem(str(out), "output folder exists and is not empty; pass --force to replace it", field="--out")
            )
        if not (out / MARKER).is_file():
            raise InputError(
                Problem(
                    str(out),
                    "not a demo output folder (no .memo-demo file); --force replaces only those, choose another --out",
                    field="--out",
                )
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by `memo demo`; `memo demo --force` replaces this folder\n", encoding="utf-8")
    ctx = DemoContext(out=out, echo=echo, seed=seed, workers=workers)
    todo = STEPS if steps is None else steps
    for i, (name, step) in enumerate(todo, start=1):
        echo(f"[{i}/{len(todo)}] {name}")
        step(ctx)
    return ctx
