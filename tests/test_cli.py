"""The ``tinygrad-rnn`` command line: help text, argument checks reported with the usage of the
subcommand called, file-system mistakes as one-line errors, and teach error-flow's --cell and
--lag (issue 14, item 8)."""
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from tinygrad_rnn import teach
from tinygrad_rnn.cli import CELLS, build_parser, error_flow_cells, main, make_cell

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def usage_error(capsys, argv):
    """Run argv, expecting argparse's exit status 2; returns what went to stderr."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    return err


def one_line_error(capsys, argv, command):
    """Run argv, expecting status 2 and one line on stderr naming the command, no traceback."""
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert err.startswith(f"tinygrad-rnn {command}: error: ") and err.count("\n") == 1, err
    return err


# help

def test_help_is_plain_text_with_defaults_and_examples(capsys):
    for argv in ([], ["render"], ["tour"], ["teach"]):
        with pytest.raises(SystemExit) as exc:
            main(argv + ["--help"])
        assert exc.value.code == 0
        text = capsys.readouterr().out
        assert not re.search(r"``|:func:|:class:|`", text), text  # no RST markup
        assert "examples:\n  tinygrad-rnn " in text, text
    with pytest.raises(SystemExit):
        main(["render", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for shown in ("(default: 4)", "(default: unrolled)", "(default: gates)", "(default: 3)"):
        assert shown in text
    with pytest.raises(SystemExit):
        main(["teach", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: min(3, steps - 1))" in text and "(default: None)" not in text


def test_every_subcommand_and_option_has_help():
    parser, commands = build_parser()
    assert set(commands) == {"render", "tour", "teach"}
    for name, sub in commands.items():
        assert sub.description and sub.epilog, name
        for action in sub._actions:
            assert action.help and len(action.help) > 8, (name, action.dest)
            assert "`" not in action.help, (name, action.dest)


# argument checks: the subcommand's usage, the value given

@pytest.mark.parametrize("argv, option, value", [
    (["render", "lstm", "--steps", "0", "-o", "x.dot"], "--steps", "0"),
    (["render", "lstm", "--steps", "-2", "-o", "x.dot"], "--steps", "-2"),
    (["render", "lstm", "--hidden-size", "0", "-o", "x.dot"], "--hidden-size", "0"),
    (["render", "lstm", "--input-size", "-1", "-o", "x.dot"], "--input-size", "-1"),
    (["render", "lstm", "--seed", "-1", "-o", "x.dot"], "--seed", "-1"),
    (["render", "lstm", "--steps", "two", "-o", "x.dot"], "--steps", "'two'"),
    (["teach", "bptt", "--steps", "0"], "--steps", "0"),
    (["teach", "bptt", "--units", "0"], "--units", "0"),
    (["teach", "rtrl", "--units", "-3"], "--units", "-3"),
    (["teach", "bptt", "--input-size", "0"], "--input-size", "0"),
    (["teach", "error-flow", "--lag", "0"], "--lag", "0"),
    (["teach", "error-flow", "--lag", "-1", "--steps", "5"], "--lag", "-1"),
    (["teach", "bptt", "--seed", "-5"], "--seed", "-5"),
])
def test_bad_sizes_are_reported_with_the_subcommands_usage(capsys, argv, option, value):
    err = usage_error(capsys, argv)
    command = argv[0]
    assert err.startswith(f"usage: tinygrad-rnn {command} "), err
    assert f"tinygrad-rnn {command}: error: argument {option}: " in err, err
    assert f"got {value}" in err, err


def test_error_flow_lag_must_be_less_than_steps(capsys):
    err = usage_error(capsys, ["teach", "error-flow", "--steps", "3", "--lag", "5"])
    assert err.startswith("usage: tinygrad-rnn teach ")
    assert "argument --lag: must be less than --steps, got --lag 5 with --steps 3" in err
    err = usage_error(capsys, ["teach", "error-flow", "--steps", "3", "--lag", "3"])
    assert "got --lag 3 with --steps 3" in err
    err = usage_error(capsys, ["teach", "error-flow", "--steps", "1"])
    assert "argument --steps: error-flow needs at least 2 steps" in err and "got 1" in err
    # without --lag: q = min(3, steps - 1), as before
    assert main(["teach", "error-flow", "--steps", "3"]) == 0
    assert "(q=2)" in capsys.readouterr().out
    assert main(["teach", "error-flow", "--steps", "6"]) == 0
    assert "(q=3)" in capsys.readouterr().out
    assert main(["teach", "error-flow", "--steps", "4", "--lag", "3"]) == 0
    assert "(q=3)" in capsys.readouterr().out


# teach error-flow --cell

def test_error_flow_cells_are_exactly_the_ones_error_flow_paths_handles():
    xs = np.random.default_rng(0).standard_normal((3, 1, 1))
    for name in CELLS:
        cell = make_cell(name, 1, 2, 0)
        if name in error_flow_cells():
            paths = teach.error_flow_paths(cell, xs, q=2)
            assert np.isclose(paths.total, paths.autodiff, rtol=1e-12, atol=1e-300)
        else:
            with pytest.raises(Exception, match="simple RNN"):
                teach.error_flow_paths(cell, xs, q=2)
    assert error_flow_cells() == ("rnn", "irnn")


@pytest.mark.parametrize("name", ["rnn", "irnn"])
def test_error_flow_uses_the_cell_asked_for(capsys, name):
    argv = ["teach", "error-flow", "--cell", name, "--units", "2", "--steps", "4", "--lag", "2",
            "--input-size", "2", "--seed", "3"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    xs = np.random.default_rng(3).standard_normal((4, 1, 2))
    assert out == f"{teach.error_flow_paths(make_cell(name, 2, 2, 3), xs, q=2)}\n"


def test_error_flow_cells_differ_and_default_is_the_tanh_rnn(capsys):
    outputs = {}
    for cell in (None, "rnn", "irnn"):
        argv = ["teach", "error-flow", "--steps", "4", "--seed", "1"]
        assert main(argv + (["--cell", cell] if cell else [])) == 0
        outputs[cell] = capsys.readouterr().out
    assert outputs[None] == outputs["rnn"] != outputs["irnn"]


@pytest.mark.parametrize("name", sorted(set(CELLS) - {"rnn", "irnn"}))
def test_error_flow_refuses_other_cells_naming_the_ones_that_work(capsys, name):
    err = usage_error(capsys, ["teach", "error-flow", "--cell", name])
    assert err.startswith("usage: tinygrad-rnn teach ")
    assert "argument --cell: " in err and f"got {name!r}" in err
    assert "--cell rnn or irnn" in err and f"render {name} --view error-flow" in err


# files and directories

def test_render_into_a_missing_directory_is_refused_and_creates_nothing(tmp_path, capsys):
    missing = tmp_path / "missing"
    for ext in ("dot", "svg"):
        target = missing / "deeper" / f"x.{ext}"
        err = one_line_error(capsys, ["render", "lstm", "--steps", "1", "-o", str(target)], "render")
        assert "does not exist" in err and repr(str(missing / "deeper")) in err
        assert not missing.exists()
    assert list(tmp_path.iterdir()) == []


def test_render_output_under_a_file_or_onto_a_directory_is_refused(tmp_path, capsys):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("x")
    err = one_line_error(capsys, ["render", "rnn", "-o", str(blocker / "x.dot")], "render")
    assert "is a file, not a directory" in err and repr(str(blocker)) in err
    err = one_line_error(capsys, ["render", "rnn", "-o", str(tmp_path)], "render")
    assert "is a directory" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_render_into_an_existing_directory_and_the_current_one_works(tmp_path, capsys, monkeypatch):
    assert main(["render", "rnn", "--steps", "2", "-o", str(tmp_path / "r.dot")]) == 0
    assert (tmp_path / "r.dot").read_text().startswith("digraph")
    monkeypatch.chdir(tmp_path)
    assert main(["render", "rnn", "--steps", "1", "--hidden-size", "1", "--input-size", "1",
                 "-o", "here.dot"]) == 0
    assert (tmp_path / "here.dot").exists() and "here.dot" in capsys.readouterr().out


def test_tour_out_at_a_file_is_a_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "tour"
    blocker.write_text("not a directory")
    err = one_line_error(capsys, ["tour", "--out", str(blocker)], "tour")
    assert f"--out {str(blocker)!r} is a file" in err
    err = one_line_error(capsys, ["tour", "--out", str(blocker / "sub")], "tour")
    assert f"is inside {str(blocker)!r}, a file" in err
    assert blocker.read_text() == "not a directory"


def test_other_os_errors_are_one_line(tmp_path, capsys, monkeypatch):
    import tinygrad_rnn.viz as viz

    def refuse(graph, path):
        raise PermissionError(13, "Permission denied", path)
    monkeypatch.setattr(viz, "save", refuse)
    target = str(tmp_path / "r.dot")
    err = one_line_error(capsys, ["render", "rnn", "--steps", "1", "-o", target], "render")
    assert "Permission denied" in err and repr(target) in err


# .gitignore

@pytest.mark.skipif(shutil.which("git") is None or not os.path.isdir(os.path.join(ROOT, ".git")),
                    reason="needs git and the repository")
def test_what_the_tour_and_examples_write_is_git_ignored():
    outs = {"tour"}
    for name in os.listdir(os.path.join(ROOT, "examples")):
        if name.endswith(".py"):
            with open(os.path.join(ROOT, "examples", name)) as f:
                outs.update(re.findall(r'"--out", default="([^"]+)"', f.read()))
    assert {"gallery", "tour", "quickstart_out"} <= outs
    for out in sorted(outs):
        for f in ("index.html", "picture.svg", "weights.npz"):
            path = f"{out}/{f}"
            done = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
            assert done.returncode == 0, f"{path} is not git-ignored"


# teach bptt / rtrl --html: the step-through page of the same computation

def teach_traces(cell_name, units, steps, seed, input_size=1, output="squared"):
    """The BPTT and RTRL traces `teach` computes for these arguments (its cell, inputs and
    loss: ``teach_problem``)."""
    from tinygrad_rnn.cli import teach_problem
    p = teach_problem(cell_name, units, steps, seed, input_size, output)
    return (teach.bptt_trace(p["cell"], p["xs"], None, p["loss_fn"]),
            teach.rtrl_trace(p["cell"], p["xs"], None, p["loss_fn"]))


def page_data(text):
    """The JSON blob the step-through page carries (every number it shows)."""
    import json
    blob = re.search(r'<script type="application/json" class="tgr-data">(.*?)</script>', text, re.S)
    return json.loads(blob.group(1))


def test_teach_bptt_without_html_prints_the_trace_and_writes_nothing(
        tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["teach", "bptt", "--cell", "lstm", "--steps", "3", "--seed", "2"]) == 0
    bptt, _ = teach_traces("lstm", 2, 3, 2)
    assert capsys.readouterr().out == f"{bptt}\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("what", ["bptt", "rtrl"])
def test_teach_html_writes_the_page_with_both_modes_after_the_same_text(tmp_path, capsys, what):
    from tinygrad_rnn.teach.page import fmt
    target = tmp_path / "steps.html"
    argv = ["teach", what, "--cell", "gru", "--units", "2", "--steps", "3", "--seed", "1"]
    assert main(argv) == 0
    plain = capsys.readouterr().out
    assert main(argv + ["--html", str(target)]) == 0
    out = capsys.readouterr().out
    # the text is unchanged; one line after it says where the page is
    assert out.startswith(plain) and out[len(plain):].count("\n") == 2, out[len(plain):]
    assert out.rstrip("\n").splitlines()[-1].endswith(f": {target}")
    text = target.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    # both modes: the RTRL button is enabled and its steps are in the data
    assert re.search(r'<button id="mode-rtrl" type="button">', text), "RTRL mode disabled"
    assert not re.search(r'<button id="mode-bptt"[^>]*disabled', text)
    data = page_data(text)
    assert set(data["modes"]) == {"bptt", "rtrl"} and data["comparison"]["agree"]
    # numbers of the BPTT trace of the same computation (cell, inputs, loss) are on the page
    bptt, rtrl = teach_traces("gru", 2, 3, 1)
    for k, g in bptt.grads.items():
        for v in np.ravel(g)[:3]:
            assert fmt(v) in text, (k, fmt(v))
    assert fmt(bptt.loss) in text
    for name, v in bptt.forward[0].items():
        assert fmt(np.ravel(v)[0]) in text, name
    # the page is exactly the one write_step_page makes of these two traces
    assert text == teach.step_page(bptt, rtrl)


def test_teach_html_needs_an_html_file_name(tmp_path, capsys):
    for bad in ("steps.txt", "steps", "steps.html.bak"):
        target = tmp_path / bad
        err = usage_error(capsys, ["teach", "bptt", "--html", str(target)])
        assert err.startswith("usage: tinygrad-rnn teach ")
        assert "argument --html: " in err and ".html" in err and f"got {str(target)!r}" in err
    assert list(tmp_path.iterdir()) == []


def test_teach_html_into_a_missing_directory_or_onto_one_is_refused(tmp_path, capsys):
    missing = tmp_path / "missing" / "deeper"
    for what in ("bptt", "rtrl"):
        target = missing / "steps.html"
        err = one_line_error(capsys, ["teach", what, "--html", str(target)], "teach")
        assert "does not exist" in err and f"--html {str(target)!r}" in err
        assert repr(str(missing)) in err
    assert list(tmp_path.iterdir()) == []
    folder = tmp_path / "pages.html"
    folder.mkdir()
    err = one_line_error(capsys, ["teach", "bptt", "--html", str(folder)], "teach")
    assert "is a directory" in err and list(folder.iterdir()) == []


def test_teach_error_flow_refuses_html(tmp_path, capsys):
    target = tmp_path / "flow.html"
    err = usage_error(capsys, ["teach", "error-flow", "--html", str(target)])
    assert err.startswith("usage: tinygrad-rnn teach ")
    assert "argument --html: only bptt and rtrl write a step-through page" in err
    assert not target.exists()
