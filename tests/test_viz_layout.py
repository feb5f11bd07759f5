"""Where Graphviz really puts things in ``draw_unrolled`` and ``draw_folded``: the layout
(``dot -Tjson``) of an unrolled cell has its steps left to right without overlap, every step
drawn alike (the same boxes in the same rows, in the same order), the states of all steps in
one row, the state edges running from one step to the next and no further, the collapsed
middle drawn once between the first and the last steps, the parameters once each in one row
under the steps, and a picture of bounded size; a folded cell has its delay loops down its
left side and its parameters in one row under it."""
import json
import os
import re
import shutil
import subprocess
import time

import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.cli import CELLS as ALL_CELLS
from tinygrad_rnn.cli import make_cell

pytestmark = pytest.mark.skipif(shutil.which("dot") is None and not os.environ.get("CI"),
                                reason="Graphviz's dot is not installed (CI installs it)")

CELLS = sorted(ALL_CELLS)  # lstm, gru, rnn, peephole, scrn, wz (Williams-Zipser) and the rest
STATE_BLUE = "#2b6cb0"


def title(label: str) -> str:
    bold = re.search(r"<B>(.*?)</B>", label)
    return bold.group(1) if bold else label


def layout(graph):
    """Nodes {name: dict(x, y, w, h, title, cluster)}, clusters {name: (x0, y0, x1, y1)}
    and edges [(tail, head, colour, points on the curve)] in points, as dot lays ``graph``
    out (an edge drawn backwards counts as going from its head to its tail)."""
    out = subprocess.run(["dot", "-Tjson"], input=graph.source, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    data = json.loads(out)
    objects = data["objects"]
    by_id = {o["_gvid"]: o for o in objects if "nodes" not in o and "pos" in o}
    clusters, member = {}, {}
    for o in objects:
        if o["name"].startswith("cluster_"):
            name = o["name"][len("cluster_"):]
            clusters[name] = tuple(float(v) for v in o["bb"].split(","))
            for i in o.get("nodes", []):
                member.setdefault(i, name)
    nodes = {}
    for i, o in by_id.items():
        x, y = (float(v) for v in o["pos"].split(","))
        nodes[o["name"]] = dict(x=x, y=y, w=float(o["width"]) * 72, h=float(o["height"]) * 72,
                                title=title(o.get("label", "")), cluster=member.get(i),
                                shape=o.get("shape"))
    edges = []
    for e in data.get("edges", []):
        if "pos" not in e:
            continue
        points = [xy for piece in e["pos"].split(";") for xy in curve(
            [tuple(float(v) for v in p.split(",")) for p in piece.split()
             if not p.startswith(("e,", "s,"))])]
        tail, head = by_id[e["tail"]]["name"], by_id[e["head"]]["name"]
        if e.get("dir") in ("back", "none"):  # a path down the rows is written upwards
            tail, head = head, tail
        edges.append((tail, head, e.get("color"), points))
    return nodes, clusters, edges


def curve(control, samples=8):
    """Points on the piecewise cubic Bezier curve dot draws through ``control``."""
    out = [control[0]]
    for k in range(0, len(control) - 3, 3):
        p0, p1, p2, p3 = control[k:k + 4]
        for i in range(1, samples + 1):
            t = i / samples
            a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t ** 3
            out.append(tuple(a * u + b * v + c * w + d * z for u, v, w, z in zip(p0, p1, p2, p3)))
    return out


def step_clusters(clusters):
    return sorted((c for c in clusters if re.fullmatch(r"t\d+", c)), key=lambda c: int(c[1:]))


def drawn(nodes, cluster):
    """The visible nodes of one step, each as (title with the step number as "t", x, y);
    without the states entering the step (only the first step and the one after the
    collapsed middle have them)."""
    t = int(cluster[1:])
    out = []
    for n in nodes.values():
        if n["cluster"] != cluster or not n["title"] or re.fullmatch(rf"\w+\({t}\)", n["title"]):
            continue
        out.append((re.sub(r"\(\d+\)", "(t)", n["title"]), n["x"], n["y"]))
    return out


@pytest.mark.parametrize("detail", ["gates", "ops"])
@pytest.mark.parametrize("name", CELLS)
def test_steps_run_left_to_right_without_overlap(name, detail):
    nodes, clusters, _ = layout(tr.viz.draw_unrolled(make_cell(name), 4, detail=detail,
                                                     loss=True))
    steps = step_clusters(clusters)
    assert steps == ["t0", "t1", "t2", "t3"]
    for a, b in zip(steps, steps[1:]):
        assert clusters[a][2] < clusters[b][0], (a, b, clusters[a], clusters[b])
        # side by side, not a staircase: the same height
        assert abs(clusters[a][1] - clusters[b][1]) < 1 and abs(clusters[a][3] - clusters[b][3]) < 1


@pytest.mark.parametrize("detail", ["gates", "ops"])
@pytest.mark.parametrize("name", CELLS)
def test_every_step_is_drawn_alike(name, detail):
    """The same boxes in the same rows, in the same order left to right, in every step; so
    the states of all steps share a row (h(1), h(2), ... at one height)."""
    cell = make_cell(name)
    nodes, clusters, _ = layout(tr.viz.draw_unrolled(cell, 4, detail=detail, loss=True))
    looks = []
    for c in step_clusters(clusters):
        items = drawn(nodes, c)
        rows = sorted({round(y) for _, _, y in items})
        looks.append([(rows.index(round(y)), t) for t, x, y in sorted(
            items, key=lambda i: (round(i[2]), i[1]))])
    for k, look in enumerate(looks[1:], 1):
        assert look == looks[0], f"step {k + 1} differs from step 1"
    for s in cell.state_names:
        ys = [n["y"] for n in nodes.values() if re.fullmatch(rf"{s}\([1-4]\)", n["title"])]
        assert len(ys) == 4 and max(ys) - min(ys) < 1, (s, ys)
    heights = {round(y) for c in step_clusters(clusters) for _, _, y in drawn(nodes, c)}
    for c in step_clusters(clusters):  # the rows of one step are the rows of every step
        assert {round(y) for _, _, y in drawn(nodes, c)} == heights


def test_the_lstm_gates_keep_their_places():
    nodes, clusters, _ = layout(tr.viz.draw_unrolled(make_cell("lstm"), 4, loss=True))
    gates = ["input gate i", "forget gate f", "candidate g", "output gate o", "tanh(c)"]
    places = []
    for c in step_clusters(clusters):
        h = next(n for n in nodes.values() if n["title"] == f"h({int(c[1:]) + 1})")
        places.append({n["title"]: (round(n["x"] - h["x"]), round(n["y"] - h["y"]))
                       for n in nodes.values() if n["cluster"] == c and n["title"] in gates})
    assert all(sorted(p) == sorted(gates) for p in places)
    for p in places[1:]:  # where step 1 has them (right of its entering state c(0))
        for g in gates:
            assert p[g][1] == places[0][g][1]  # the same row
        assert (sorted(gates, key=lambda g: p[g][::-1])
                == sorted(gates, key=lambda g: places[0][g][::-1]))  # row by row, left to right
    # steps 2 and 3, read from and read by a step: exactly the same places (the last one
    # has no state leaving on its right, so dot centres its boxes a little differently)
    assert places[2] == places[1]


@pytest.mark.parametrize("detail", ["gates", "ops"])
@pytest.mark.parametrize("name", CELLS)
def test_state_edges_go_straight_to_the_next_step(name, detail):
    """Each piece of a state's way from step t into step t+1 stays within those two steps
    (the old layout ran them past the right edge of the picture and back)."""
    nodes, clusters, edges = layout(tr.viz.draw_unrolled(make_cell(name), 4, detail=detail))
    state_edges = [e for e in edges if e[2] == STATE_BLUE]
    assert state_edges
    for tail, head, _, points in state_edges:
        steps = sorted({nodes[tail]["cluster"], nodes[head]["cluster"]}, key=lambda c: int(c[1:]))
        assert len(steps) <= 2 and int(steps[-1][1:]) - int(steps[0][1:]) <= 1
        left, right = clusters[steps[0]][0], clusters[steps[-1]][2]
        xs = [x for x, _ in points]
        assert left - 1 <= min(xs) and max(xs) <= right + 1, (tail, head, left, right, xs)


def test_the_collapsed_middle_is_drawn_once_between_the_first_and_last_steps():
    graph = tr.viz.draw_unrolled(make_cell("lstm"), 50, max_steps=8, loss=True)
    assert graph.source.count("⋯ 42 steps ⋯") == 1
    nodes, clusters, edges = layout(graph)
    assert step_clusters(clusters) == ["t0", "t1", "t2", "t3", "t46", "t47", "t48", "t49"]
    middle = [n for n in nodes.values() if n["title"] == "⋯ 42 steps ⋯"]
    assert len(middle) == 1
    (m,) = middle
    assert clusters["t3"][2] < m["x"] - m["w"] / 2 and m["x"] + m["w"] / 2 < clusters["t46"][0]
    steps = step_clusters(clusters)
    for a, b in zip(steps, steps[1:]):
        assert clusters[a][2] < clusters[b][0]
    # the states of step 4 go into it, and out of it into the states entering step 47
    into = {nodes[t]["title"] for t, h, c, _ in edges if nodes[h]["title"] == m["title"]}
    out = {nodes[h]["title"] for t, h, c, _ in edges if nodes[t]["title"] == m["title"]}
    assert {"c(4)"} <= into and {"c(46)"} <= out  # (h goes through points first)


@pytest.mark.parametrize("name", CELLS)
def test_parameters_are_drawn_once_in_one_row_under_the_steps(name):
    cell = make_cell(name)
    nodes, clusters, _ = layout(tr.viz.draw_unrolled(cell, 4, detail="ops"))
    params = [n for n in nodes.values() if n["title"] in cell.parameters()]
    assert sorted(n["title"] for n in params) == sorted(cell.parameters())
    assert all(n["cluster"] == "params" for n in params)
    assert max(n["y"] for n in params) - min(n["y"] for n in params) < 1
    top_of_params = clusters["params"][3]
    assert all(top_of_params < clusters[c][1] for c in step_clusters(clusters))


@pytest.mark.parametrize("detail, most", [("gates", (1600, 700)), ("ops", (1750, 900))])
def test_a_4_step_lstm_fits_and_a_50_step_one_stays_bounded(detail, most, tmp_path):
    start = time.perf_counter()
    small = tr.viz.save(tr.viz.draw_unrolled(make_cell("lstm"), 4, detail=detail, loss=True),
                        str(tmp_path / "lstm4.svg"))
    big = tr.viz.save(tr.viz.draw_unrolled(make_cell("lstm"), 50, detail=detail, loss=True),
                      str(tmp_path / "lstm50.svg"))
    assert time.perf_counter() - start < 5
    sizes = []
    for path in (small, big):
        w, h = re.search(r'width="(\d+)pt" height="(\d+)pt"', open(path).read()).groups()
        sizes.append((int(w), int(h)))
    (w4, h4), (w50, h50) = sizes
    assert w4 <= most[0] and h4 <= most[1], (w4, h4)
    assert h50 == h4 and w50 <= 2.3 * w4, (w50, h50)  # 8 steps shown, one strip


@pytest.mark.parametrize("detail", ["gates", "ops"])
@pytest.mark.parametrize("name", CELLS)
def test_a_folded_cell_loops_down_its_left_side(name, detail):
    """Each new state goes down the left side of the cell, through its delay ■ (beside the
    state it becomes), into that state; the parameters are one row under everything."""
    cell = make_cell(name)
    graph = tr.viz.draw_folded(cell, detail)
    nodes, _, edges = layout(graph)
    titled = {n["title"]: n for n in nodes.values() if n["title"]}
    delays = [n for n in nodes.values() if n["shape"] == "square"]
    assert len(delays) == len(cell.state_names)
    visible = [n for n in nodes.values() if n["title"] and n["cluster"] != "params"]
    for d in delays:  # beside an entering state, left of everything else in its row
        entry = min((n for n in visible if n["title"].endswith("(t−1)")),
                    key=lambda n: abs(n["y"] - d["y"]) + abs(n["x"] - d["x"]))
        assert abs(entry["y"] - d["y"]) < 1 and d["x"] < entry["x"]
        assert all(d["x"] < n["x"] for n in visible if abs(n["y"] - d["y"]) < 1)
    after = {t: (h, points) for t, h, c, points in edges if c == STATE_BLUE}
    for s in cell.state_names:  # follow the loop from s(t) to s(t-1)
        name = next(k for k, n in nodes.items() if n["title"] == f"{s}(t)")
        ends, seen, way = {name}, [], []
        while name in after:
            name, points = after[name]
            way += points if seen else []  # (from where it leaves s(t) on)
            seen.append(nodes[name])
        assert seen[-2]["shape"] == "square" and seen[-1]["title"] == f"{s}(t−1)"
        ends |= {k for k, n in nodes.items() if n is seen[-1]}
        others = [n for k, n in nodes.items() if n in visible and k not in ends]
        for x, y in way:  # left of whatever it passes
            assert all(x < n["x"] - n["w"] / 2 + 1 for n in others
                       if abs(y - n["y"]) < n["h"] / 2 - 2), (s, x, y)
    params = [titled[p] for p in cell.parameters()]
    assert max(p["y"] for p in params) - min(p["y"] for p in params) < 1
    assert all(p["y"] < min(n["y"] for n in visible) for p in params)
