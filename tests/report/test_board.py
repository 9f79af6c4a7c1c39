"""The page of several runs (`memo leaderboard --format html`, `memo report FILES --gold`) and the LaTeX table."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from mediaeval_memo.cli import cli
from tests.report.conftest import EVIL_RUN
from tests.report.pages import off_page, parse

B = "500"  # resamples: enough to exercise every path, quick


def _invoke(*args: object) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args])


def _runs(run_files: dict[str, Path]) -> list[Path]:
    return [run_files[k] for k in ("strong", "middle", EVIL_RUN)]


def test_leaderboard_html_and_latex_match_the_json(tmp_path: Path, run_files: dict[str, Path]) -> None:
    out = tmp_path / "lb" / "dev"
    result = _invoke(
        "leaderboard", *_runs(run_files), "--gold", run_files["gold"], "--out", out, "--bootstrap", B,
        "--format", "json", "--format", "html", "--format", "latex",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    board = json.loads((tmp_path / "lb" / "dev.json").read_text())
    page = parse((tmp_path / "lb" / "dev.html").read_text())
    root = page.root
    for sid in ("table", "forest", "pairs", "agreement", "latex"):
        root.by_id(sid)
    table = root.find("table", class_="leaderboard")
    assert table.header()[:3] == ["rank", "run", "Spearman"]
    rows = table.rows()
    assert [r[1] for r in rows] == [r["run"] for r in board["runs"]]
    for row, record in zip(rows, board["runs"], strict=True):
        assert row[2] == f"{record['srcc']:.4f}"
        assert row[3] == f"[{record['ci_low']:.4f}, {record['ci_high']:.4f}]"
        assert row[4] == f"{record['plcc']:.4f}"
        assert row[6] == f"{record['mse']:.5f}"
    # The best Spearman is bold; the run named with markup is text, not an element.
    assert table.find("span", class_="best").text == rows[0][2]
    assert EVIL_RUN in [r[1] for r in rows]
    assert not [e for e in root.find_all("img") if e.attrs.get("src") == "x"]
    assert page.handlers == []
    assert off_page(page) == []
    # Paired differences: a k x k matrix, Holm-adjusted with three runs, as `memo compare` reports them.
    compare = _invoke("compare", *_runs(run_files), "--gold", run_files["gold"], "--bootstrap", B, "--json")
    pairs = json.loads(compare.output)["pairs"]
    matrix = root.by_id("pairs").find("table").rows()
    assert len(matrix) == 3
    names = [r[0] for r in matrix]
    for p in pairs:
        cell = matrix[names.index(p["a"])][names.index(p["b"]) + 1]
        assert cell.startswith(f"{p['difference']:+.4f} [{p['ci']['low']:.4f}, {p['ci']['high']:.4f}]")
        assert cell.endswith(f"p (Holm) = {p['p_holm']:.4g}")
    # The page shows the same LaTeX the .tex file holds.
    tex = (tmp_path / "lb" / "dev.tex").read_text()
    assert " ".join(root.by_id("latex").find("pre").text.split()) == " ".join(tex.split())


def test_report_of_run_files_is_the_leaderboard_page(tmp_path: Path, run_files: dict[str, Path]) -> None:
    out = tmp_path / "runs.html"
    result = _invoke("report", *_runs(run_files), "--gold", run_files["gold"], "--out", out, "--bootstrap", B)
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {out}\n"
    root = parse(out.read_text()).root
    assert root.find("title").text == "Leaderboard"
    assert len(root.find("table", class_="leaderboard").rows()) == 3
    # Two runs, a closed-form method: the table, no pairs (and the page says why).
    one = _invoke(
        "report", *_runs(run_files)[:2], "--gold", run_files["gold"], "--out", tmp_path / "two.html",
        "--bootstrap", "0", "--method", "fisher-bw",
    )  # fmt: skip
    assert one.exit_code == 0, one.output
    two = parse((tmp_path / "two.html").read_text()).root
    assert "no paired test" in two.by_id("pairs").text


def test_clusters_reach_the_page(tmp_path: Path, run_files: dict[str, Path]) -> None:
    clusters = tmp_path / "clusters.csv"
    ids = [f"vid{i:04d}" for i in range(120)]
    clusters.write_text("video_id,group\n" + "".join(f"{v},c{i % 12}\n" for i, v in enumerate(ids)))
    out = tmp_path / "c" / "dev"
    result = _invoke(
        "leaderboard", *_runs(run_files), "--gold", run_files["gold"], "--out", out, "--bootstrap", B,
        "--clusters", clusters, "--format", "html", "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    root = parse((tmp_path / "c" / "dev.html").read_text()).root
    assert "12 clusters resampled whole" in root.find("div", class_="subtitle").text
    board = json.loads((tmp_path / "c" / "dev.json").read_text())
    assert "clusters:12@" in board["runs"][0]["signature"]
    assert board["runs"][0]["signature"] in root.by_id("table").text


def test_board_error_paths(tmp_path: Path, run_files: dict[str, Path]) -> None:
    runs = _runs(run_files)
    # A run file that fails validation: one line, exit 1, nothing written.
    bad = tmp_path / "bad.csv"
    bad.write_text("video_id,score\nvid0000,0.5\n")
    out = tmp_path / "page.html"
    result = _invoke("report", runs[0], bad, "--gold", run_files["gold"], "--out", out, "--bootstrap", B)
    assert result.exit_code == 1
    assert result.output.startswith(f"error: {bad}: video_id: 119 of 120 gold videos have no prediction")
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()
    # --out is a folder.
    result = _invoke("report", *runs, "--gold", run_files["gold"], "--out", tmp_path)
    assert result.exit_code == 1
    assert result.output == f"error: {tmp_path}: --out: is a folder; --out names the HTML file to write\n"
    # Run files without --gold.
    result = _invoke("report", *runs, "--out", out)
    assert result.exit_code == 1
    assert "run FILEs need gold labels" in result.output
    # An existing page is kept without --force, for both commands.
    out.write_text("keep")
    result = _invoke("report", *runs, "--gold", run_files["gold"], "--out", out)
    assert result.exit_code == 1 and out.read_text() == "keep"
    (tmp_path / "lb.html").write_text("keep")
    result = _invoke("leaderboard", *runs, "--gold", run_files["gold"], "--out", tmp_path / "lb", "--format", "html")
    assert result.exit_code == 1
    assert result.output == f"error: {tmp_path / 'lb.html'}: exists; pass --force to replace it\n"
    assert (tmp_path / "lb.html").read_text() == "keep"


# ---------------------------------------------------------------------------------------------------- LaTeX


def _latex(run_files: dict[str, Path], tmp_path: Path) -> str:
    out = tmp_path / "t" / "dev"
    result = _invoke(
        "leaderboard", *_runs(run_files), "--gold", run_files["gold"], "--out", out, "--bootstrap", B,
        "--format", "latex", "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return (tmp_path / "t" / "dev.tex").read_text()


def test_latex_table_structure(tmp_path: Path, run_files: dict[str, Path]) -> None:
    tex = _latex(run_files, tmp_path)
    board = json.loads((tmp_path / "t" / "dev.json").read_text())
    body = [line for line in tex.splitlines() if not line.startswith("%")]
    assert body[0] == r"\begin{table}[t]" and body[-1] == r"\end{table}"
    for a, b in (("table", "table"), ("tabular", "tabular")):
        assert tex.count(rf"\begin{{{a}}}") == tex.count(rf"\end{{{b}}}") == 1
    rules = [line for line in body if line in (r"\toprule", r"\midrule", r"\bottomrule")]
    assert rules == [r"\toprule", r"\midrule", r"\bottomrule"]
    spec = re.search(r"\\begin\{tabular\}\{([lrc]+)\}", tex)
    assert spec is not None
    rows = body[body.index(r"\midrule") + 1 : body.index(r"\bottomrule")]
    assert len(rows) == len(board["runs"])
    for row, record in zip(rows, board["runs"], strict=True):
        assert row.endswith(r"\\")
        cells = [c.strip() for c in row[:-2].split(" & ")]
        assert len(cells) == len(spec.group(1))  # every row as wide as the column spec
        value = re.sub(r"\\textbf\{(.*)\}", r"\1", cells[2])
        assert value == f"{record['srcc']:.3f}"
        assert cells[3] == f"[{record['ci_low']:.3f}, {record['ci_high']:.3f}]"
    # The best per column in bold: Spearman and Pearson of the strong run, and its MSE.
    first = [c.strip() for c in rows[0][:-2].split(" & ")]
    assert first[2].startswith(r"\textbf{") and first[4].startswith(r"\textbf{") and first[6].startswith(r"\textbf{")
    assert not any(c.startswith(r"\textbf") for row in rows[1:] for c in row.split(" & ")[2:4])
    # Signatures as comments; the run name's markup characters escaped for LaTeX.
    assert all(f"% {r['run']}: {r['signature']}" in tex for r in board["runs"])
    assert r"\textless{}img src=x onerror=alert(1)\textgreater{}" in tex


TEX_ENGINES = ("pdflatex", "lualatex", "xelatex", "tectonic")


def test_latex_table_compiles(tmp_path: Path, run_files: dict[str, Path]) -> None:
    engine = next((e for e in TEX_ENGINES if shutil.which(e)), None)
    if engine is None:
        pytest.skip(f"no TeX engine on PATH ({', '.join(TEX_ENGINES)}); the structure is checked by the test above")
    (tmp_path / "table.tex").write_text(_latex(run_files, tmp_path))
    (tmp_path / "doc.tex").write_text(
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n\\input{table.tex}\n\\end{document}\n"
    )
    args = [engine, "doc.tex"] if engine == "tectonic" else [engine, "-interaction=nonstopmode", "-halt-on-error",
                                                              "doc.tex"]  # fmt: skip
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 0
