"""Log-scale line plots: the library's own SVG, and matplotlib's when it is installed."""
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from tinygrad_rnn.viz.plot import lag_plot, save_plot

SERIES = {"tanh RNN": 0.5 ** np.arange(20), "LSTM": np.r_[np.ones(19), 0.0]}


def _polylines(svg):
    root = ET.fromstring(svg)
    return [e.attrib["points"].split() for e in root.iter("{http://www.w3.org/2000/svg}polyline")]


def test_lag_plot_draws_one_line_per_series_and_drops_zeros():
    svg = lag_plot(SERIES, "vanishing")
    lines = _polylines(svg)
    assert [len(p) for p in lines] == [20, 19]  # the zero cannot sit on a log axis
    assert "vanishing" in svg and "tanh RNN" in svg and "lag q" in svg
    ys = [float(p.split(",")[1]) for p in lines[0]]
    assert ys == sorted(ys)  # falling values go down the picture: y grows


def test_lag_plot_labels_ticks_with_given_x_values():
    svg = lag_plot({"loss": [3.0, 2.0, 1.0]}, "curve", ylabel="loss", xlabel="step",
                   x=[100, 200, 300])
    assert ">step<" in svg and ">200<" in svg and ">loss<" in svg


def test_save_plot_falls_back_to_svg_without_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    path = save_plot(SERIES, str(tmp_path / "p.svg"), "vanishing")
    assert _polylines(open(path).read())
    with pytest.raises(ValueError, match="only .svg"):
        save_plot(SERIES, str(tmp_path / "p.png"), "vanishing")


def test_save_plot_uses_matplotlib_when_installed(tmp_path):
    pytest.importorskip("matplotlib")  # an optional extra ("compare"); CI runs without it
    path = save_plot(SERIES, str(tmp_path / "p.png"), "vanishing", x=np.arange(20) * 2)
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    svg = open(save_plot(SERIES, str(tmp_path / "p.svg"), "vanishing")).read()
    assert "<svg" in svg and "Matplotlib" in svg


def test_lag_plot_legend_fits_inside_the_picture():
    # a long name (the tour's "LSTM, forget bias 0") must not be cut at the right edge
    names = {"LSTM, no forget gate": [1.0, 0.5], "IRNN (ReLU, U = I)": [1.0, 1.0]}
    root = ET.fromstring(lag_plot(names, "t"))
    width = float(root.attrib["width"])
    ns = "{http://www.w3.org/2000/svg}"
    for e in root.iter(ns + "text"):
        if e.text in names:  # ~7 px a character at font size 12 is an upper bound for Helvetica
            assert float(e.attrib["x"]) + 7 * len(e.text) <= width
