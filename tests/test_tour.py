"""The tour: every picture and the page, the BPTT/RTRL agreement and the error-flow verdict."""
import os
import re

from html import escape

import numpy as np
import pytest

from tinygrad_rnn import tour
from tinygrad_rnn.cli import main
from tinygrad_rnn.graph.node import GraphError
from tinygrad_rnn.tour import error_flow_by_lag, run


def test_tour_writes_every_picture_and_the_page(tmp_path, capsys):
    facts = run(str(tmp_path))
    printed = capsys.readouterr().out
    files = sorted(os.listdir(tmp_path))
    svgs = [f for f in files if f.endswith(".svg")]
    assert "index.html" in files and "steps.html" in files and len(svgs) == 8
    assert "<a href='steps.html'>" in (tmp_path / "index.html").read_text()
    # DOT text is always written for every graph picture (the lag plot is not a graph)
    assert {f[:-4] for f in files if f.endswith(".dot")} == {f[:-4] for f in svgs} - {"8_error_vs_lag", "6_rtrl_vs_bptt"}
    page = (tmp_path / "index.html").read_text()
    for f in svgs:  # shown and linked at full size
        assert f"src='{f}'" in page and f"<a href='{f}'" in page
        assert (tmp_path / f).read_text().lstrip().startswith(("<?xml", "<svg", "<!--"))
    titles = re.findall(r"<h2>(\d+)\. ([^<]*)</h2>", page)
    assert len(titles) == 9 and "docs/tutorial.md" in page
    # the console numbers the sections as the page does, and files carry their section's number
    for k, title in titles[:-1]:
        assert f"{k}. {title}" in printed
    for f in svgs:
        k = int(f.split("_")[0])
        assert titles[k - 1][0] == str(k)
    assert facts["bptt_vs_rtrl_max_difference"] < 1e-12
    assert facts["seconds"] < 60


def test_the_tour_claims_follow_its_numbers(tmp_path):
    facts = run(str(tmp_path), quiet=True)
    page = (tmp_path / "index.html").read_text()
    kept = facts["error_kept"]
    # the acceptance of the error-flow section: the LSTM keeps >= 100x the RNN's error, 29 back
    assert kept["lstm1997"] >= 100 * kept["rnn"] and kept["rnn"] < 1e-3
    assert f"{kept['rnn']:.1e}" in page and f"{kept['lstm1997']:.1e}" in page
    assert f"{kept['lstm1997'] / kept['rnn']:.0f} times the RNN" in page
    assert abs(kept["lstm1997_carousel"] - 1) < 1e-9 and "tr.nn.LSTM1997Cell" in page
    diff = facts["bptt_vs_rtrl_max_difference"]
    assert f"differ by at most {diff:.1e}" in page
    left = facts["error_kept_at_lag"]
    for name, r in left.items():  # every cell of the lag plot is listed with its own number
        assert f"{escape(name)} ({r:.1e})" in page
    assert left["LSTM, forget bias 0"] < 1e-4 <= 1e-3 <= left["LSTM, no forget gate"]
    assert all(v == 1 for v in facts["unrolled_parameter_boxes"].values())
    assert facts["bptt_picture_gradient_mismatch"] <= 5e-3
    assert f"differ by at most {facts['step_page_max_difference']:.1e}" in page
    costs = facts["costs"]
    for r in costs:  # the measured table is on the page, with the exact memory counts
        assert f"{r['rtrl_numbers']:,} sensitivities against {r['bptt_numbers']:,}" in page
        assert r["rtrl_numbers"] == r["n"] * r["n"] * (r["n"] + 2) and r["bptt_numbers"] == 10 * r["n"]
    grow = costs[-1]["rtrl_generic"] / costs[0]["rtrl_generic"]
    assert escape(f"RTRL's step took {grow:.0f} times longer") in page


def test_a_claim_the_numbers_do_not_support_stops_the_tour(tmp_path, monkeypatch):
    # over 3 steps the tanh RNN keeps far more than 1e-3 of its error: the sentence that it
    # vanished must not be printed
    monkeypatch.setattr(tour, "FLOW_STEPS", 3)
    with pytest.raises(tour.ClaimNotSupported, match="only .* of it is left"):
        run(str(tmp_path), quiet=True)
    with pytest.raises(tour.ClaimNotSupported, match="x = 2"):
        tour.claim(False, "never printed", "x = 2")
    assert tour.claim(True, "printed", "x = 1") == "printed"


def test_tour_out_must_be_a_directory(tmp_path):
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(GraphError, match="is a file"):
        run(str(f), quiet=True)


def test_error_flow_by_lag_shows_vanishing_and_the_carousel():
    norms = error_flow_by_lag(T=30)
    last = {k: v[-1] for k, v in norms.items()}
    assert all(len(v) == 30 for v in norms.values())
    assert last["tanh RNN"] < 1e-4 * norms["tanh RNN"][0]  # vanished
    assert last["LSTM, no forget gate"] > 1e3 * last["tanh RNN"]  # the CEC keeps it
    assert last["LSTM, forget bias 1"] > 10 * last["LSTM, forget bias 0"]
    assert np.isfinite(list(last.values())).all()


def test_cli_tour_and_teach(tmp_path, capsys):
    assert main(["tour", "--out", str(tmp_path / "t")]) == 0
    assert "index.html" in capsys.readouterr().out
    for what, cell in (("bptt", "lstm"), ("rtrl", "wz"), ("error-flow", "rnn")):
        assert main(["teach", what, "--cell", cell, "--units", "2", "--steps", "3"]) == 0
        out = capsys.readouterr().out
        assert {"bptt": "backward pass", "rtrl": "p^0_ij", "error-flow": "sum over paths"}[what] in out
