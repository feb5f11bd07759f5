"""The tour: every picture and the page, the BPTT/RTRL agreement and the error-flow verdict."""
import os
import re

import numpy as np

from tinygrad_rnn.cli import main
from tinygrad_rnn.tour import error_flow_by_lag, run


def test_tour_writes_every_picture_and_the_page(tmp_path):
    facts = run(str(tmp_path), quiet=True)
    files = sorted(os.listdir(tmp_path))
    assert "index.html" in files and len([f for f in files if f.endswith(".svg")]) == 6
    page = (tmp_path / "index.html").read_text()
    for f in files:
        if f.endswith(".svg"):
            assert f"src='{f}'" in page
            assert (tmp_path / f).read_text().lstrip().startswith(("<?xml", "<svg", "<!--"))
    assert len(re.findall("<h2>", page)) == 8 and "docs/tutorial.md" in page
    assert facts["bptt_vs_rtrl_max_difference"] < 1e-12
    assert facts["seconds"] < 60


def test_error_flow_by_lag_shows_vanishing_and_the_carousel():
    norms = error_flow_by_lag(T=30)
    last = {k: v[-1] for k, v in norms.items()}
    assert all(len(v) == 30 for v in norms.values())
    assert last["tanh RNN"] < 1e-4 * norms["tanh RNN"][0]  # vanished
    assert last["LSTM 1997 (no forget gate)"] > 1e3 * last["tanh RNN"]  # the CEC keeps it
    assert last["LSTM, forget bias 1"] > 10 * last["LSTM, forget bias 0"]
    assert np.isfinite(list(last.values())).all()


def test_cli_tour_and_teach(tmp_path, capsys):
    assert main(["tour", "--out", str(tmp_path / "t")]) == 0
    assert "index.html" in capsys.readouterr().out
    for what, cell in (("bptt", "lstm"), ("rtrl", "wz"), ("error-flow", "rnn")):
        assert main(["teach", what, "--cell", cell, "--units", "2", "--steps", "3"]) == 0
        out = capsys.readouterr().out
        assert {"bptt": "backward pass", "rtrl": "p^0_ij", "error-flow": "sum over paths"}[what] in out
