"""Pictures of genomes: what evolution built, drawn as a reader of a paper expects it.

A genome's table of genes says little at a glance; a picture says which groups exist, how
wide they are and what they compute, which edges skip levels, which feed back, which
evolution switched off. :func:`genome_figure` draws one with matplotlib alone (no Graphviz
to install), laid out left to right by the topological level the network is compiled to
(:func:`search_spaces.compile.node_levels`), so depth reads as width; :func:`to_dot` writes
the same graph as DOT text for those who do have Graphviz. ``neurevo show`` and the HTML
report use these.

Visual language: a box per group with its id, size and activation (fill colour by
activation); black arrows between neighbouring levels, blue arcs for skip edges (over more
than one level), red dotted arcs for recurrent edges (loops for a group onto itself), grey
dashes for disabled edges.
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path
from typing import Any

from evolve.records import atomic_write
from search_spaces.compile import node_levels
from search_spaces.genome import ConnectionGene, Genome

PICTURE_SUFFIXES = (".svg", ".png", ".pdf", ".dot")
ACTIVATION_COLOURS = {
    "identity": "#e6e6e6", "relu": "#9ecae1", "tanh": "#fdae6b", "sigmoid": "#a1d99b",
    "elu": "#bcbddc", "hardsigmoid": "#9edae5",
}
EDGE_STYLES = {  # kind -> (colour, line style, width)
    "feedforward": ("#222222", "-", 1.3),
    "skip": ("#2166ac", "-", 1.3),
    "recurrent": ("#b2182b", ":", 1.5),
    "disabled": ("#b0b0b0", "--", 1.0),
}


SPACING = 1.8  # between levels, in units of the vertical spacing of groups
HALF_W, HALF_H = 0.46, 0.28  # a group's box
INCH = 0.9  # inches per unit


def positions(genome: Genome) -> dict[int, tuple[float, float]]:
    """``node id -> (x, y)``: x follows the compiled level; within a level, groups are
    ordered by the mean height of their feedforward sources (fewer crossings) and centred."""
    level = node_levels(genome)
    by_level: dict[int, list[int]] = {}
    for node in genome.nodes:
        by_level.setdefault(level[node.id], []).append(node.id)
    sources: dict[int, list[int]] = {}
    for c in genome.connections:
        if not c.recurrent:
            sources.setdefault(c.dst, []).append(c.src)
    pos: dict[int, tuple[float, float]] = {}
    for lv in sorted(by_level):
        ids = by_level[lv]

        def key(i: int) -> tuple[float, int]:
            ys = [pos[s][1] for s in sources.get(i, []) if s in pos]
            return (-(sum(ys) / len(ys)) if ys else 0.0, i)
        ids.sort(key=key)
        for k, node_id in enumerate(ids):
            pos[node_id] = (SPACING * lv, (len(ids) - 1) / 2.0 - k)
    return pos


def edge_kind(c: ConnectionGene, level: dict[int, int]) -> str:
    if not c.enabled:
        return "disabled"
    if c.recurrent:
        return "recurrent"
    return "skip" if level[c.dst] - level[c.src] > 1 else "feedforward"


def _label(genome: Genome, node_id: int) -> str:
    node = genome.node(node_id)
    if node.role == "input":
        return f"input\n{node.size}"
    if node.role == "output":
        return f"output\n{node.size} {node.activation}"
    return f"#{node.id}\n{node.size} {node.activation}"


def _on_box(centre: tuple[float, float], towards: tuple[float, float]) -> tuple[float, float]:
    """Where the ray from a box's centre towards a point leaves the box (plus a gap)."""
    (x, y), (tx, ty) = centre, towards
    dx, dy = tx - x, ty - y
    if dx == 0 and dy == 0:
        return centre
    t = min(HALF_W / abs(dx) if dx else float("inf"), HALF_H / abs(dy) if dy else float("inf"))
    gap = 0.06 / (dx * dx + dy * dy) ** 0.5
    return x + (t + gap) * dx, y + (t + gap) * dy


def _bend(kind: str, a: tuple[float, float], b: tuple[float, float],
          pos: dict[int, tuple[float, float]], centre: float) -> float:
    """The arc3 ``rad`` of an edge: straight between neighbouring levels; edges that jump
    levels or go back arc away from the middle of the picture, high enough to clear the
    boxes they pass over rather than run through them."""
    (x0, y0), (x1, y1) = a, b
    spans = abs(x1 - x0) > SPACING * 1.01 or x1 <= x0
    if not spans and kind != "recurrent":
        return 0.0
    up = (y0 + y1) / 2.0 >= centre  # bend towards the nearer edge of the picture
    low_x, high_x = min(x0, x1), max(x0, x1)
    between = [y for x, y in pos.values() if low_x < x < high_x]
    middle = (y0 + y1) / 2.0
    clear = (max(between, default=middle) - middle if up
             else middle - min(between, default=middle)) + HALF_H + 0.18
    length = max(abs(x1 - x0), 1e-9)
    rad = min(max(2.0 * clear / length, 0.32 if kind != "recurrent" else 0.42), 1.2)
    # arc3 puts the control point at mid + rad·(dy, -dx): negative rad bends a rightward
    # edge upwards, positive rad a leftward one
    rightward = x1 > x0 or (x1 == x0 and y1 < y0)
    return -rad if up == rightward else rad


def _limits(genome: Genome) -> tuple[float, float, float, float]:
    """``(x0, x1, y0, y1)`` that hold every box, loop and arc of the picture."""
    pos = positions(genome)
    level = node_levels(genome)
    xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
    low, high = min(ys) - HALF_H - 0.1, max(ys) + HALF_H + 0.1
    centre = (max(ys) + min(ys)) / 2.0
    for c in genome.connections:
        (x0, y0), (x1, y1) = pos[c.src], pos[c.dst]
        if c.src == c.dst:
            high = max(high, y0 + HALF_H + 0.45)
            continue
        rad = _bend(edge_kind(c, level), (x0, y0), (x1, y1), pos, centre)
        cy = (y0 + y1) / 2 - rad * (x1 - x0)
        peak = 0.25 * y0 + 0.5 * cy + 0.25 * y1  # the quadratic Bézier's middle
        low, high = min(low, peak - 0.1), max(high, peak + 0.1)
    return min(xs) - HALF_W - 0.1, max(xs) + HALF_W + 0.1, low, high


def draw_genome(ax: Any, genome: Genome, title: str | None = None) -> None:
    """Draw ``genome`` on a matplotlib axes (no ticks, equal scale)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch

    pos = positions(genome)
    level = node_levels(genome)
    ys = [p[1] for p in pos.values()]
    centre = (max(ys) + min(ys)) / 2.0
    kinds_seen: list[str] = []
    for c in genome.connections:
        kind = edge_kind(c, level)
        if kind not in kinds_seen:
            kinds_seen.append(kind)
        colour, style, width = EDGE_STYLES[kind]
        (x0, y0), (x1, y1) = pos[c.src], pos[c.dst]
        if c.src == c.dst:  # a loop over the top of the box
            arrow = FancyArrowPatch((x0 - 0.16, y0 + HALF_H + 0.03),
                                    (x0 + 0.16, y0 + HALF_H + 0.03),
                                    connectionstyle="arc3,rad=-1.8", arrowstyle="-|>",
                                    mutation_scale=9, color=colour, lw=width, ls=style,
                                    zorder=1)
        else:
            rad = _bend(kind, (x0, y0), (x1, y1), pos, centre)
            # aim each end at the arc's control point, so it leaves the box where it bends
            cx, cy = (x0 + x1) / 2 + rad * (y1 - y0), (y0 + y1) / 2 - rad * (x1 - x0)
            start, end = _on_box((x0, y0), (cx, cy)), _on_box((x1, y1), (cx, cy))
            arrow = FancyArrowPatch(start, end, connectionstyle=f"arc3,rad={rad}",
                                    arrowstyle="-|>", mutation_scale=10, color=colour,
                                    lw=width, ls=style, zorder=1, shrinkA=0, shrinkB=0)
        ax.add_patch(arrow)
    activations_seen: list[str] = []
    for node in genome.nodes:
        x, y = pos[node.id]
        fill = ACTIVATION_COLOURS.get(node.activation, "#ffffff")
        if node.role != "input" and node.activation not in activations_seen:
            activations_seen.append(node.activation)
        box = FancyBboxPatch((x - HALF_W, y - HALF_H), 2 * HALF_W, 2 * HALF_H,
                             boxstyle="round,pad=0,rounding_size=0.08",
                             fc=fill if node.role != "input" else "#ffffff",
                             ec="#000000" if node.role != "hidden" else "#555555",
                             lw=1.6 if node.role != "hidden" else 1.0, zorder=2)
        ax.add_patch(box)
        ax.text(x, y, _label(genome, node.id), ha="center", va="center", fontsize=8,
                zorder=3)
    x0, x1, y0, y1 = _limits(genome)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.axis("off")
    handles = [Line2D([], [], color=EDGE_STYLES[k][0], ls=EDGE_STYLES[k][1], lw=1.5, label=k)
               for k in EDGE_STYLES if k in kinds_seen]
    handles += [Patch(fc=ACTIVATION_COLOURS.get(a, "#ffffff"), ec="#555555", label=a)
                for a in activations_seen]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), fontsize=7,
              ncol=min(len(handles), 4), frameon=False, handlelength=1.8,
              borderaxespad=0.2)
    if title:
        ax.set_title(title, fontsize=9)


def genome_figure(genome: Genome, title: str | None = None, scale: float = 1.0) -> Any:
    """A matplotlib figure of ``genome``, sized to its levels and widest level. Built
    without pyplot, so a notebook's own plotting backend is left alone."""
    from matplotlib.figure import Figure

    x0, x1, y0, y1 = _limits(genome)
    width, height = (x1 - x0) * INCH, (y1 - y0) * INCH
    entries = len({edge_kind(c, node_levels(genome)) for c in genome.connections}) + len(
        {n.activation for n in genome.nodes if n.role != "input"})
    legend = 0.12 + 0.2 * math.ceil(entries / 4)
    top = 0.4 if title else 0.05
    total = height + legend + top
    fig = Figure(figsize=(scale * max(width, 3.4), scale * total))
    ax = fig.add_axes((0.0, legend / total, 1.0, height / total))
    draw_genome(ax, genome, title)
    return fig


def genome_svg(genome: Genome, title: str | None = None, key: str = "genome",
               scale: float = 1.0) -> str:
    """The picture as an ``<svg>`` element to inline in HTML: no XML prolog, text as text,
    and element ids prefixed with ``key`` so several pictures on one page never share one."""
    from matplotlib import rc_context

    buffer = io.StringIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": key}):
        genome_figure(genome, title, scale).savefig(buffer, format="svg")
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    return re.sub(r'id="([^"]+)"', lambda m: f'id="{key}-{m.group(1)}"',
                  re.sub(r'url\(#([^)]+)\)', lambda m: f"url(#{key}-{m.group(1)})",
                         re.sub(r'xlink:href="#([^"]+)"',
                                lambda m: f'xlink:href="#{key}-{m.group(1)}"', text)))


def to_dot(genome: Genome, title: str | None = None) -> str:
    """The genome as Graphviz DOT text, left to right, one rank per compiled level."""
    level = node_levels(genome)
    lines = ["digraph genome {", "  rankdir=LR;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];']
    if title:
        lines.append(f'  label="{_dot_escape(title)}"; labelloc=t;')
    for node in genome.nodes:
        fill = "#ffffff" if node.role == "input" else ACTIVATION_COLOURS.get(node.activation,
                                                                             "#ffffff")
        width = ", penwidth=2" if node.role != "hidden" else ""
        lines.append(f'  n{node.id} [label="{_dot_escape(_label(genome, node.id))}", '
                     f'fillcolor="{fill}"{width}];')
    for lv in sorted(set(level.values())):
        same = " ".join(f"n{i};" for i, v in sorted(level.items()) if v == lv)
        lines.append(f"  {{ rank=same; {same} }}")
    for c in genome.connections:
        kind = edge_kind(c, level)
        colour, style, _ = EDGE_STYLES[kind]
        dot_style = {"-": "solid", ":": "dotted", "--": "dashed"}[style]
        extra = ", constraint=false" if kind == "recurrent" else ""
        lines.append(f'  n{c.src} -> n{c.dst} [color="{colour}", style={dot_style}, '
                     f'tooltip="{kind} (innovation {c.innovation})"{extra}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def write_picture(genome: Genome, path: str | Path, title: str | None = None) -> Path:
    """Write the picture to ``path`` by its suffix: ``.svg``, ``.png``, ``.pdf`` or ``.dot``."""
    path = Path(path)
    if path.suffix.lower() not in PICTURE_SUFFIXES:
        raise ValueError(f"picture path {str(path)!r}: expected a "
                         f"{', '.join(PICTURE_SUFFIXES[:-1])} or {PICTURE_SUFFIXES[-1]} file name")
    if path.suffix.lower() == ".dot":
        text = to_dot(genome, title)
        atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        return path
    buffer = io.BytesIO()
    genome_figure(genome, title).savefig(buffer, format=path.suffix[1:].lower(), dpi=150)
    data = buffer.getvalue()
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    return path
