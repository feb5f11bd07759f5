"""draw_bptt: the backward graph of an unrolled cell in time, named as the seeds name it,
with the numbers of the BPTT trace, and as readable at 20 steps as at 4."""
import os
import re
import shutil
import time

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.cli import CELLS, last_step_loss, make_cell
from tinygrad_rnn.graph.node import GraphError
from tinygrad_rnn.viz.style import number

needs_dot = pytest.mark.skipif(shutil.which("dot") is None and not os.environ.get("CI"),
                               reason="Graphviz's dot is not installed (CI installs it)")


def titles(src):
    return re.findall(r"<B>(.*?)</B>", src) + re.findall(r"label=<([^<>]*?)(?:<BR/>|>)", src)


def node_of(src, text):
    """The DOT name of the node whose label starts with ``text``."""
    m = re.search(r"^\s*(\w+) \[label=<(?:<B>)?" + re.escape(text), src, flags=re.M)
    assert m, f"no node labelled {text!r}"
    return m.group(1)


def edges(src):
    return re.findall(r"^\s*(\w+) -> (\w+)", src, flags=re.M)


def cluster_of(src):
    """node -> step number (1-based) of the cluster it is declared in."""
    where, step = {}, None
    for line in src.splitlines():
        m = re.match(r"\s*subgraph cluster_step(\d+)", line)
        if m:
            step = int(m.group(1)) + 1
        elif line.strip() == "}":
            step = None
        else:
            n = re.match(r"\s*(\w+) \[label=", line)
            if n and step is not None:
                where[n.group(1)] = step
    return where


def test_lstm_deltas_are_named_per_step_with_the_traces_numbers():
    cell = tr.nn.LSTMCell(2, 3, seed=0)
    T = 4
    xs = np.random.default_rng(5).standard_normal((T, 1, 2))
    src = tr.viz.draw_bptt(cell, T, xs=xs).source
    trace = tr.teach.bptt_trace(cell, xs, None, last_step_loss(T))
    for t in range(1, T + 1):
        for name in ("h", "c"):
            g = np.linalg.norm(trace.deltas[t - 1][name])
            assert f"<B>δ{name}({t})</B>" in src and f"‖δ{name}‖ = {number(g)}" in src
        for gate in ("i", "g", "o"):
            assert f"δ{gate}({t})" in src
        for p in cell.parameters():
            c = np.linalg.norm(trace.contributions[t - 1][p])
            assert re.search(rf"Δ{p}\({t}\)<BR/>[^\n]*?‖Δ‖ = {re.escape(number(c))}<", src)
    assert all(f"δf({t})" in src for t in range(1, T + 1))
    # one sum per weight, equal to the gradient BPTT computes
    _, grads = tr.learn.bptt(cell, xs, None, last_step_loss(T))
    for p, g in grads.items():
        assert src.count(f"∂L/∂{p} = Σ_t Δ{p}(t)") == 1
        assert f"‖∂L/∂{p}‖ = {number(np.linalg.norm(g))}" in src


def test_the_error_flows_from_the_loss_back_through_the_steps():
    cell = tr.nn.LSTMCell(2, 3, seed=0)
    src = tr.viz.draw_bptt(cell, 4).source
    where = cluster_of(src)
    loss = node_of(src, "<B>L(4)")
    assert (loss, node_of(src, "δh(4)")) in edges(src)
    back = 0
    for a, b in edges(src):
        if a in where and b in where and where[a] != where[b] and 'style=invis' not in a:
            assert where[b] < where[a], "an edge goes forward in time"
            back += 1
    assert back >= 3 * 2  # h and c of every step boundary at least
    # each step's contribution feeds the next-earlier one; the first feeds the sum
    d3, d2 = node_of(src, "Δweight_hh(3)"), node_of(src, "Δweight_hh(2)")
    assert (d3, d2) in edges(src)
    assert (node_of(src, "Δweight_hh(1)"), node_of(src, "<B>∂L/∂weight_hh")) in edges(src)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_every_cell_gets_a_delta_per_state_and_step(name):
    cell = make_cell(name, 2, 3)
    src = tr.viz.draw_bptt(cell, 3, loss="every").source
    for t in (1, 2, 3):
        for s in cell.state_names:
            assert f"<B>δ{s}({t})</B>" in src
        assert f"<B>L({t})</B>" in src


@needs_dot
def test_twenty_steps_fold_fast_and_four_steps_fit_a_wide_page(tmp_path):
    cell = tr.nn.LSTMCell(2, 3, seed=0)
    start = time.perf_counter()
    graph = tr.viz.draw_bptt(cell, 20)
    tr.viz.save(graph, str(tmp_path / "bptt20.svg"))
    assert time.perf_counter() - start < 5
    src = graph.source
    assert len(re.findall(r"subgraph cluster_step", src)) == 6
    assert src.count("⋯ steps 4–17 ⋯") == 1 and "+ steps 4–17" in src
    tr.viz.save(tr.viz.draw_bptt(cell, 4), str(tmp_path / "bptt4.svg"))
    w, h = map(int, re.search(r'width="(\d+)pt" height="(\d+)pt"',
                              open(tmp_path / "bptt4.svg").read()).groups())
    assert w < 3200 and h < 600 and h * 4 < w  # one strip of steps


def test_bad_arguments_are_clear_errors():
    cell = tr.nn.RNNCell(2, 3, seed=0)
    with pytest.raises(GraphError, match="loss must be 'last' or 'every'"):
        tr.viz.draw_bptt(cell, 3, loss="all")
    with pytest.raises(GraphError, match=r"xs must have shape .* \(3, 1, 2\), got \(3, 2\)"):
        tr.viz.draw_bptt(cell, 3, xs=np.zeros((3, 2)))
    with pytest.raises(GraphError, match="steps must be a positive int"):
        tr.viz.draw_bptt(cell, 0)


def test_a_truncated_gradient_draws_no_error_across_the_cut():
    # the 1997 cell's truncated gradient: error crosses time only through the carousel s
    cell = tr.nn.LSTM1997Cell(2, 2, seed=0)
    src = tr.viz.draw_bptt(cell, 3).source
    where = cluster_of(src)
    across = {(a, b) for a, b in edges(src) if a in where and b in where and where[a] != where[b]}
    assert across, "no error through time at all"
    labels = dict(re.findall(r"^\s*(\w+) \[label=<(?:<B>)?([^<\n]*)", src, flags=re.M))
    errors = [(a, b) for a, b in across if labels[a].startswith("δ")]
    assert errors and all(labels[b].startswith("δs(") for a, b in errors), errors
    assert "δout(3)" in src and "δin(2)" in src and "δout(2)" not in src  # y(2) gets no error
    full = tr.viz.draw_bptt(tr.nn.LSTM1997Cell(2, 2, truncated=False, seed=0), 3).source
    where = cluster_of(full)
    labels = dict(re.findall(r"^\s*(\w+) \[label=<(?:<B>)?([^<\n]*)", full, flags=re.M))
    assert any(labels[b].startswith("δy(") for a, b in edges(full)
               if a in where and b in where and where[a] != where[b])
