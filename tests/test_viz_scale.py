"""Pictures of big graphs stay drawable: above ``max_nodes`` the middle time steps fold into
one box (the title says so), every step is a cluster, shared weights are drawn once with a
stub where each step reads them, and Graphviz runs under a time limit with an error that
names the remedy. Gate boxes say what they compute."""
import os
import re
import shutil
import time

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.graph.node import GraphError
from tinygrad_rnn.graph.traverse import toposort
from tinygrad_rnn.viz.fold import step_numbers
from tinygrad_rnn.viz.save import GraphvizTimeout

needs_dot = pytest.mark.skipif(shutil.which("dot") is None and not os.environ.get("CI"),
                               reason="Graphviz's dot is not installed (CI installs it)")


def unrolled_loss(T, cell=None):
    cell = cell or tr.nn.LSTMCell(3, 4, seed=0)
    xs = tr.placeholder((T, 1, 3), name="xs")
    ys, _ = tr.unroll(cell, xs)
    return cell, (ys[-1] * ys[-1]).sum()


def drawn_nodes(source):
    """Node statements of the DOT text (stubs of shared weights included)."""
    return re.findall(r"^\s*(n\d+\w*) \[label=", source, flags=re.M)


def svg_size(path):
    w, h = re.search(r'width="(\d+)pt" height="(\d+)pt"', open(path).read()).groups()
    return int(w), int(h)


def test_step_numbers_follow_the_applications_of_the_step():
    _, loss = unrolled_loss(5)
    order = toposort([loss.node])
    step = step_numbers(order)
    assert sorted(set(step.values())) == [1, 2, 3, 4, 5]
    assert all(id(n) not in step for n in order if n.op.leaf)  # weights belong to no step
    assert step[id(loss.node)] == 5  # the loss reads the last step


@needs_dot
@pytest.mark.parametrize("detail", ["gates", "ops"])
def test_draw_of_a_50_step_lstm_is_fast_folded_and_bounded(detail, tmp_path):
    _, loss = unrolled_loss(50)
    start = time.perf_counter()
    graph = tr.viz.draw(loss, detail=detail)
    path = tr.viz.save(graph, str(tmp_path / "lstm50.svg"))
    seconds = time.perf_counter() - start
    assert seconds < 5, f"draw + render of a 50-step LSTM took {seconds:.1f} s"
    src = graph.source
    assert re.search(r"steps \d+–\d+ of 50 folded into one box \(\d+ nodes\)", src)
    assert "⋯ steps" in src
    steps = re.findall(r'label="step (\d+)"', src)
    assert "1" in steps and "50" in steps and len(steps) < 50
    # the budget counts the graph's boxes; each shown step adds one small stub per weight read
    stubs = len(re.findall(r"^\s*n\d+_step\d+ \[", src, flags=re.M))
    assert len(drawn_nodes(src)) - stubs <= 100
    w, h = svg_size(path)
    assert w < 20000 and h < 2000  # one strip of steps, not a diagonal staircase
    assert h * 4 < w


@needs_dot
def test_draw_backward_of_a_20_step_lstm_is_fast(tmp_path):
    cell, loss = unrolled_loss(20)
    start = time.perf_counter()
    graph = tr.viz.draw_backward(loss, [cell.weight_hh], detail="gates")
    tr.viz.save(graph, str(tmp_path / "back20.svg"))
    seconds = time.perf_counter() - start
    assert seconds < 5, f"draw_backward + render of a 20-step LSTM took {seconds:.1f} s"
    assert "folded into one box" in graph.source and "∂loss/∂weight_hh" in graph.source


def test_small_graphs_are_not_folded_and_max_nodes_is_checked():
    _, loss = unrolled_loss(2)
    src = tr.viz.draw(loss).source
    assert "folded" not in src and "⋯ steps" not in src
    assert re.findall(r'label="step (\d+)"', src) == ["1", "2"]
    _, loss4 = unrolled_loss(4)  # (two steps have no middle to fold)
    assert "steps 2–3 of 4 folded" in tr.viz.draw(loss4, max_nodes=10).source
    for bad in (0, -3, 2.5, True):
        with pytest.raises(GraphError, match="max_nodes must be a positive int"):
            tr.viz.draw(loss, max_nodes=bad)


def test_a_shared_weight_is_drawn_once_with_a_stub_per_step():
    _, loss = unrolled_loss(3)
    src = tr.viz.draw(loss, detail="gates").source
    assert src.count("<B>weight_hh</B>") == 1  # the weight itself, in the "shared" cluster
    assert "read by every step" in src
    stubs = re.findall(r'^\s*n\d+_step(\d+) \[label=weight_hh', src, flags=re.M)
    assert sorted(stubs) == ["1", "2", "3"]


@needs_dot
def test_a_render_past_the_time_limit_is_a_clear_error_that_writes_nothing(tmp_path, monkeypatch):
    _, loss = unrolled_loss(4)
    graph = tr.viz.draw(loss)
    monkeypatch.setenv("TINYGRAD_RNN_DOT_TIMEOUT", "0.0001")
    target = tmp_path / "new_dir" / "x.svg"
    with pytest.raises(GraphvizTimeout, match="max_nodes=.*TINYGRAD_RNN_DOT_TIMEOUT"):
        tr.viz.save(graph, str(target))
    assert not (tmp_path / "new_dir").exists()
    with pytest.raises(GraphvizTimeout):  # what a notebook calls to show the picture
        graph._repr_image_svg_xml()
    monkeypatch.setenv("TINYGRAD_RNN_DOT_TIMEOUT", "60")
    assert graph._repr_image_svg_xml().lstrip().startswith("<?xml")
    assert tr.viz.save(graph, str(target)) == str(target)


def test_gate_boxes_say_what_they_compute():
    # the LSTM's box before h(t) is tanh(c) (the output gate multiplies it into h(t) itself)
    lstm = tr.viz.draw_folded(tr.nn.LSTMCell(2, 2, seed=0)).source
    assert "<B>tanh(c)</B>" in lstm and "hidden h = o * tanh(c)" not in lstm
    # the GRU's two products are two boxes with two names, folded and unrolled alike
    for graph in (tr.viz.draw_folded(tr.nn.GRUCell(2, 2, seed=0)),
                  tr.viz.draw_unrolled(tr.nn.GRUCell(2, 2, seed=0), 2)):
        src = graph.source
        assert "pre-activations W x + b_ih" in src and "pre-activations U h + b_hh" in src
        assert "pre-activations W x + U h + b" not in src
    unrolled = tr.viz.draw_unrolled(tr.nn.GRUCell(2, 2, seed=0), 2).source
    assert unrolled.count("pre-activations U h + b_hh") == 2  # one per step
