"""Every view for every cell of tr.nn, rendered to SVG with the real `dot`, and checked for
structure: one cluster per step, parameters drawn once, one labelled edge per path step in
error-flow views, magnitudes equal to the gradients tr.grad gives."""
import re
import shutil

import graphviz
import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.cli import CELLS, VIEWS, last_step_loss, main, make_cell, picture
from tinygrad_rnn.viz.save import GraphvizNotInstalled

needs_dot = pytest.mark.skipif(shutil.which("dot") is None and not __import__("os").environ.get("CI"),
                               reason="Graphviz's dot is not installed (CI installs it)")


def labels_of(source):
    return re.findall(r'label=<(.*?)>\s*(?:\w+=|\])', source)


def node_titles(source):
    return re.findall(r"<B>(.*?)</B>", source)


@needs_dot
@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("name", sorted(CELLS))
def test_every_view_of_every_cell_renders_to_svg(name, view, tmp_path):
    cell = make_cell(name)
    path = tr.viz.save(picture(cell, view, steps=3), str(tmp_path / f"{name}.svg"))
    text = open(path).read()
    assert text.lstrip().startswith("<?xml") and "<svg" in text


@pytest.mark.parametrize("name", sorted(CELLS))
def test_unrolled_has_one_cluster_per_step_and_each_parameter_once(name):
    cell = make_cell(name)
    for detail in ("gates", "ops"):
        source = tr.viz.draw_unrolled(cell, 4, detail=detail).source
        assert len(re.findall(r"subgraph cluster_t\d+", source)) == 4
        titles = node_titles(source)
        for pname in cell.parameters():
            assert titles.count(pname) == 1, (pname, detail)
        for t in range(1, 5):
            assert titles.count(f"x({t})") == 1
            assert titles.count(f"{cell.state_names[0]}({t})") == 1


def test_long_unrolls_collapse_their_middle():
    cell = tr.nn.LSTMCell(2, 3)
    source = tr.viz.draw_unrolled(cell, 50, max_steps=6).source
    assert len(re.findall(r"subgraph cluster_t\d+", source)) == 6
    assert "⋯ 44 steps ⋯" in source
    assert "step t = 50" in source and "step t = 1" in source


@pytest.mark.parametrize("name", sorted(CELLS))
def test_folded_view_has_one_delay_edge_per_state(name):
    cell = make_cell(name)
    source = tr.viz.draw_folded(cell).source
    assert source.count('tooltip="delay: one step later"') == len(cell.state_sizes)
    assert "delay ■, one step later" in source
    for s in cell.state_names:
        assert f"{s}(t−1)" in source and f"{s}(t)" in source


def test_backward_view_marks_gradient_and_fades_forward():
    cell = tr.nn.RNNCell(2, 3, seed=0)
    xs = tr.placeholder((3, 1, 2), name="xs")
    ys, _ = tr.unroll(cell, xs)
    loss = (ys[-1] * ys[-1]).sum()
    source = tr.viz.draw_backward(loss, [cell.weight_hh, cell.bias_ih]).source
    assert "∂loss/∂weight_hh" in source and "∂loss/∂bias_ih" in source
    assert "#cbd5e0" in source  # forward nodes faded
    assert "#c53030" in source  # backward nodes red


def flow_problem(cell, T=5, seed=0):
    xs = np.random.default_rng(seed).standard_normal((T, 2, cell.input_size))

    def loss_fn(t, y):
        return (y * y).sum() * (t + 1) if t in (1, T - 1) else None
    return xs, loss_fn


@pytest.mark.parametrize("name", sorted(CELLS))
def test_error_flow_magnitudes_equal_the_gradients_tr_grad_gives(name):
    cell = make_cell(name)
    xs, loss_fn = flow_problem(cell)
    # independent: the unrolled graph, tr.grad with respect to every state
    states, losses, s = [], [], cell.initial_state(2)
    for t in range(xs.shape[0]):
        y, s = cell(tr.tensor(xs[t]), s)
        states.append(s)
        if (loss := loss_fn(t, y)) is not None:
            losses.append(loss)
    total = sum(losses[1:], losses[0])
    flat = [c for st in states for c in st]
    want = tr.function([], tr.grad(total, flat))()
    norms = tr.learn.error_flow(cell, xs, loss_fn)
    n = len(cell.state_names)
    for i, name_i in enumerate(cell.state_names):
        expected = [np.linalg.norm(want[t * n + i]) for t in range(xs.shape[0])]
        np.testing.assert_allclose(norms[name_i], expected, rtol=1e-12, atol=1e-300)
    # the edges into each state add up to its total derivative (the chain rule, exactly)
    flow = tr.learn.error_flow_data(cell, xs, loss_fn)
    for t in range(xs.shape[0]):
        for i in range(n):
            incoming = [v for (src, dst), v in flow.edge_values.items() if dst == ("state", t, i)]
            got = sum(incoming) if incoming else np.zeros_like(flow.grads[t][i])
            np.testing.assert_allclose(got, flow.grads[t][i], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru", "scrn"])
def test_error_flow_picture_has_one_labelled_edge_per_path_step(name):
    cell = make_cell(name)
    xs, loss_fn = flow_problem(cell)
    flow = tr.learn.error_flow_data(cell, xs, loss_fn)
    source = tr.viz.draw_error_flow(cell, xs, loss_fn).source
    edges = re.findall(r"(\w+) -> (\w+) \[([^\]]*)\]", source)
    labelled = [e for e in edges if "dir=back" in e[2] and "label=" in e[2]]
    assert len(labelled) == len(flow.edges)
    for (_, _, attrs), (_, _, norm) in zip(labelled, flow.edges):
        assert re.search(r'label="?([^" ]+)"?', attrs).group(1) == tr.viz.style.number(norm)
    norms = flow.norms()
    for n in cell.state_names:
        for t in range(xs.shape[0]):
            assert f"‖∂L/∂{n}‖ = {tr.viz.style.number(norms[n][t])}" in source
    assert "vanished" in source  # the legend


def test_vanishing_and_the_constant_error_carousel_are_in_the_numbers():
    T = 40
    xs = np.random.default_rng(0).standard_normal((T, 1, 2))
    loss_fn = last_step_loss(T)
    rnn = tr.learn.error_flow(tr.nn.RNNCell(2, 8, seed=0), xs, loss_fn)["h"]
    cec = tr.learn.error_flow(tr.nn.LSTMCell(2, 8, forget_gate=False, seed=0), xs, loss_fn)["c"]
    assert rnn[0] < 1e-6 * rnn[-1]  # vanished over 40 steps
    assert cec[0] > 0.3 * cec[-2]  # carried without decay along the cell state


def test_saving_without_dot_is_a_clear_error_and_dot_text_always_works(tmp_path, monkeypatch):
    graph = tr.viz.draw_folded(tr.nn.GRUCell(2, 3))
    assert isinstance(graph, graphviz.Digraph) and hasattr(graph, "_repr_mimebundle_")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(GraphvizNotInstalled, match="apt-get install graphviz"):
        tr.viz.save(graph, str(tmp_path / "x.svg"))
    path = tr.viz.save(graph, str(tmp_path / "x.dot"))
    assert open(path).read().startswith("digraph")
    with pytest.raises(tr.GraphError, match="must end in one of"):
        tr.viz.save(graph, str(tmp_path / "x.jpg"))


@needs_dot
def test_command_line_render(tmp_path, capsys):
    out = tmp_path / "lstm.svg"
    assert main(["render", "lstm", "--view", "error-flow", "--steps", "5", "-o", str(out)]) == 0
    assert "<svg" in out.read_text()
    assert main(["render", "gru", "--view", "folded", "-o", str(tmp_path / "g.dot")]) == 0
    assert main(["render", "rnn", "-o", str(tmp_path / "r.jpg")]) == 2
    assert "must end in one of" in capsys.readouterr().err


def test_gate_boxes_stay_one_per_step_when_a_step_reads_the_previous_steps_box():
    """c_t = f c_{t-1} + i g: the "cell state c" scope of step t reads that of step t-1; the
    boxes must not merge across steps (GRU's h likewise)."""
    for cell, label in ((tr.nn.LSTMCell(2, 3, seed=0), ">cell state c<"),
                        (tr.nn.GRUCell(2, 3, seed=0), ">hidden h")):
        ys, state = tr.unroll(cell, np.zeros((3, 1, 2)))
        source = tr.viz.draw(state[0], detail="gates").source
        assert source.count(label) == 3, (type(cell).__name__, source.count(label))
    # the LSTM enters its output gate twice per step (slice, then sigmoid): still one box
    ys, (h, c) = tr.unroll(tr.nn.LSTMCell(2, 3, seed=0), np.zeros((3, 1, 2)))
    assert tr.viz.draw(h, detail="gates").source.count(">output gate o<") == 3
    assert tr.viz.draw_folded(tr.nn.LSTMCell(2, 3, seed=0)).source.count(">output gate o<") == 1
