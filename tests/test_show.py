"""Pictures of genomes (``neurevo show``) and the figures of reports and comparisons, as
files a paper or a browser can use."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import evolve
from evolve.config import SearchConfig, override
from evolve.report import comparison_figure, figure, staircase, write_comparison, write_report
from evolve.run import Architecture
from evolve.show import edge_kind, to_dot
from search_spaces.compile import compile_genome, init_params, node_levels
from search_spaces.genome import ConnectionGene, Genome, NodeGene

NEUREVO = [sys.executable, "-m", "evolve.cli"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
PNG = b"\x89PNG\r\n\x1a\n"


def cli(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([*NEUREVO, *args], capture_output=True, text=True, timeout=300,
                          env=ENV, cwd=cwd)


def skip_genome() -> Genome:
    """in -> A -> B -> out with skips in -> B and A -> out, a recurrent B -> B, a disabled
    in -> out."""
    nodes = (NodeGene(0, "input", 64), NodeGene(1, "output", 10),
             NodeGene(2, "hidden", 32, "relu"), NodeGene(3, "hidden", 16, "tanh"))
    conns = (ConnectionGene(0, 0, 1, False), ConnectionGene(1, 0, 2), ConnectionGene(2, 2, 3),
             ConnectionGene(3, 3, 1), ConnectionGene(4, 0, 3), ConnectionGene(5, 2, 1),
             ConnectionGene(6, 3, 3, recurrent=True))
    return Genome(nodes, conns)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    base = {"generations": 3, "population": 6, "out": str(out), "rule": {"name": "bp"},
            "training": {"epochs": 2, "patience": 2}, "executor": {"name": "serial"},
            "strategy": {"mutation": {"add_node": 0.5}}}
    neat = evolve.search(override(SearchConfig(), {**base, "seed": 0, "run_id": "neat"}))
    pso = evolve.search(override(SearchConfig(), {**base, "seed": 1, "run_id": "pso",
                                                  "strategy": {"name": "pso"}}))
    return neat, pso


def test_show_writes_svg_png_and_dot_for_a_member_with_skip_edges(tmp_path):
    genome = skip_genome()
    levels = node_levels(genome)
    assert {edge_kind(c, levels) for c in genome.connections} == {
        "feedforward", "skip", "recurrent", "disabled"}
    arch = Architecture(candidate_id=7, generation=2, rule="bp", genome=genome, objectives={},
                        test_accuracy=0.9, valid_accuracy=0.9, hyperparameters={},
                        _params=init_params(compile_genome(genome), [0]))
    export = evolve.export_architecture(arch, tmp_path / "skip.safetensors")
    result = cli("show", str(export), "--out", str(tmp_path / "net.svg"))
    assert result.returncode == 0, result.stderr
    root = ET.parse(tmp_path / "net.svg").getroot()
    assert root.tag.endswith("svg")
    text = (tmp_path / "net.svg").read_text()
    for label in ("input", "output", "#2", "32 relu", "16 tanh", "skip", "recurrent",
                  "disabled"):
        assert label in text
    result = cli("show", str(export), "--out", str(tmp_path / "net.png"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "net.png").read_bytes()[:8] == PNG
    result = cli("show", str(export), "--out", str(tmp_path / "net.dot"))
    assert result.returncode == 0, result.stderr
    dot = (tmp_path / "net.dot").read_text()
    assert dot.startswith("digraph genome {") and "rankdir=LR" in dot
    assert dot.count("->") == len(genome.connections) and "style=dashed" in dot
    assert to_dot(genome) == dot.replace(
        'label="candidate 7 (bp, test accuracy 0.9000)"; labelloc=t;\n  ', "")
    result = cli("show", str(export), "--out", str(tmp_path / "net.gif"))
    assert result.returncode == 2 and ".svg, .png, .pdf or .dot" in result.stderr
    onnx = tmp_path / "member.onnx"
    onnx.write_bytes(b"not drawn")
    result = cli("show", str(onnx))
    assert result.returncode == 2 and "ONNX and NIR exports are one-way" in result.stderr


def test_show_draws_a_runs_member(runs, tmp_path):
    run = runs[0]
    result = cli("show", str(run.path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    best = run.pareto_front()[0]
    path = tmp_path / result.stdout.strip()
    assert path.name == f"{run.run_id}-{best.candidate_id}.svg"
    ET.parse(path)
    result = cli("show", str(run.path), "--candidate", "99999")
    assert result.returncode == 2 and "not on the Pareto front" in result.stderr


def test_report_html_holds_one_picture_per_front_member(runs, tmp_path):
    run = runs[0]
    page = write_report(run, tmp_path / "r.html").read_text()
    front = run.pareto_front()
    pictures = re.findall(r"<figure class='genome' data-candidate='(\d+)'>(.*?)</figure>",
                          page, flags=re.S)
    assert sorted(int(c) for c, _ in pictures) == sorted(a.candidate_id for a in front)
    ids: list[str] = []
    for _, svg in pictures:
        root = ET.fromstring(svg)  # each one is well-formed SVG on its own
        own = [e.get("id") for e in root.iter() if e.get("id")]
        references = re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', svg)
        assert {a or b for a, b in references} <= set(own)  # clip paths, markers resolve
        ids += own
    assert len(ids) == len(set(ids))  # no two pictures on the page share an element id


@pytest.mark.parametrize("suffix, magic", [(".png", PNG), (".svg", b"<?xml"),
                                           (".pdf", b"%PDF")])
def test_reports_and_comparisons_by_suffix(runs, tmp_path, suffix, magic):
    assert write_report(runs[0], tmp_path / f"r{suffix}").read_bytes()[:len(magic)] == magic
    path = write_comparison(list(runs), tmp_path / f"c{suffix}")
    assert path.read_bytes()[:len(magic)] == magic
    page = write_comparison(list(runs), tmp_path / "c.html").read_text()
    assert "data:image/png;base64," in page and runs[1].run_id in page


def test_figure_panels_speak_in_units_and_species_only_where_there_are_some(runs):
    neat, pso = runs
    axes = figure(neat).axes
    front_axes = axes[0]
    assert front_axes.get_xlabel() == "energy per inference (J)"
    assert front_axes.get_xscale() == "log"
    labels = [t.get_text() for t in front_axes.get_legend().get_texts()]
    assert "front members' test accuracy" in labels and "Pareto front" in labels
    assert any(ax.get_ylabel() == "generation" for ax in axes)  # the colour bar
    assert any("species over time" in ax.get_title() for ax in axes)
    titles = [ax.get_title() for ax in figure(pso).axes]
    assert any(t.startswith("no species (pso)") for t in titles)
    assert not any("species over time" in t for t in titles)
    for ax in axes:  # generations, evaluations and epochs are counted in whole numbers
        if ax.get_xlabel() in ("generation", "evaluations", "epoch"):
            ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
            assert all(float(t).is_integer() for t in ticks), (ax.get_xlabel(), ticks)
    assert len(comparison_figure(list(runs)).axes) == 2


def test_staircase_is_the_boundary_of_what_the_front_dominates():
    # energy (min) against accuracy (max): each member holds its accuracy until the next
    xs, ys = staircase([(3.0, 0.9), (1.0, 0.5), (2.0, 0.8)], x_max=False)
    assert list(zip(xs, ys, strict=True)) == [(1.0, 0.5), (2.0, 0.5), (2.0, 0.8), (3.0, 0.8),
                                              (3.0, 0.9)]
    # a maximised x: a member's y holds back to the previous member
    xs, ys = staircase([(1.0, 0.9), (2.0, 0.5)], x_max=True)
    assert list(zip(xs, ys, strict=True)) == [(1.0, 0.9), (1.0, 0.5), (2.0, 0.5)]
    assert math.isfinite(sum(xs))
