"""tr.teach.step_page: a self-contained HTML page stepping through BPTT and RTRL traces. The
numbers on it are the traces', its closing sentence follows the number it states, and in a
real headless browser (Debian's chromium, driven by playwright) Next / Previous highlight the
right nodes and show the right numbers."""
import dataclasses
import json
import os
import pathlib
import re
import shutil

import numpy as np
import pytest

import tinygrad_rnn as tr


def _loss(t, y):
    return (y * y).sum() * (t + 1)


def _fmt(v):
    return format(float(v), ".6g")


def _slug(name):
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


XS = np.random.default_rng(0).standard_normal((3, 1, 2))  # T=3 steps, batch 1, 2 inputs


@pytest.fixture(scope="module")
def traces():
    cell = tr.nn.RNNCell(2, 2, seed=1)
    return tr.teach.bptt_trace(cell, XS, None, _loss), tr.teach.rtrl_trace(cell, XS, None, _loss)


@pytest.fixture(scope="module")
def page(traces):
    return tr.teach.step_page(*traces)


def _data(html_text):
    found = re.findall(r'<script type="application/json" class="tgr-data">(.*?)</script>',
                       html_text, re.S)
    assert len(found) == 1  # one JSON blob
    return json.loads(found[0])


def _blocks(step):
    return {b["key"]: b["rows"] for b in step["blocks"]}


def _rows(a):
    a = np.asarray(a, np.float64)
    a = a.reshape(1, -1) if a.ndim < 2 else a.reshape(-1, a.shape[-1])
    return [[_fmt(v) for v in r] for r in a]


def _diff(bptt, rtrl):
    return max(float(np.abs(bptt.grads[k] - rtrl.grads[k]).max()) for k in bptt.grads)


def _column(t, losses=True):
    """The ids of the RNN cell's step-t nodes (x, its hidden quantity, h, y, L_t)."""
    names = ["x", "hidden h = tanh(W x + U h + b)", "h", "y"] + (["loss"] if losses else [])
    return {f"node-f-{t}-{_slug(n)}" for n in names}


PARAMS = {"node-p-weight-ih", "node-p-weight-hh", "node-p-bias-ih", "node-p-bias-hh"}


# -- the HTML text ---------------------------------------------------------------------------

def test_page_is_self_contained(page):
    assert page.startswith("<!DOCTYPE html>")
    links = re.findall(r"""\b(?:src|href)\s*=\s*["']([^"']*)""", page, re.I)
    assert not [u for u in links if "http" in u.lower()]
    assert "://" not in page and "@import" not in page and "<link" not in page
    assert "<script src" not in page and "<svg" in page
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # every id once


def test_page_has_the_ids_the_script_and_the_tests_use(page, traces):
    bptt, _ = traces
    for fixed in ("status", "prev", "next", "mode-bptt", "mode-rtrl", "panel", "counter"):
        assert f'id="{fixed}"' in page
    for t in range(3):
        for nid in _column(t) | {f"col-{t}", f"edge-{t}-h"}:
            assert f'id="{nid}"' in page
        assert f'id="node-f-{t}-h" data-t="{t}" data-name="h" data-kind="state"' in page
    for nid in PARAMS | {"node-init-h"}:
        assert f'id="{nid}"' in page


def test_page_data_are_the_traces_numbers(page, traces):
    bptt, rtrl = traces
    data = _data(page)
    assert data["T"] == 3 and data["start_mode"] == "bptt" and data["state_names"] == ["h"]
    steps = data["modes"]["bptt"]
    assert [s["status"] for s in steps] == ["forward t=0", "forward t=1", "forward t=2",
                                            "backward t=2", "backward t=1", "backward t=0",
                                            "gradient (BPTT)"]
    for t in range(3):
        shown = _blocks(steps[t])
        for name, v in bptt.forward[t].items():
            assert shown[name] == _rows(v)
        assert shown["loss"] == [[_fmt(bptt.losses[t])]]
        assert set(steps[t]["active"]) == _column(t)
        back = steps[5 - t]
        assert set(back["active"]) == {f"node-f-{t}-h"} | PARAMS
        shown = _blocks(back)
        assert shown["delta h"] == _rows(bptt.deltas[t]["h"])
        for k in bptt.grads:
            assert shown[f"contribution {k}"] == _rows(bptt.contributions[t][k])
            assert shown[f"accumulated {k}"] == _rows(bptt.accumulated[t][k])
    assert steps[-1]["values"]["node-p-bias-hh"] == \
        "∂L [" + ", ".join(_fmt(v) for v in bptt.grads["bias_hh"]) + "]"
    for k, g in bptt.grads.items():
        assert _blocks(steps[-1])[f"grad {k}"] == _rows(g)
    steps = data["modes"]["rtrl"]
    assert [s["status"] for s in steps] == ["RTRL t=0", "RTRL t=1", "RTRL t=2", "RTRL gradient"]
    for t, step in enumerate(rtrl.steps):
        shown, off = _blocks(steps[t]), 0
        assert shown["h"] == _rows(step["state"][0]) and shown["y"] == _rows(step["y"])
        for k, g in bptt.grads.items():  # d h(t) / d k: the rows of P for k's entries
            assert shown[f"sens h {k}"] == _rows(step["sensitivities"][0][off:off + g.size, 0])
            assert shown[f"gradient so far {k}"] == \
                _rows(step["gradient"][off:off + g.size].reshape(g.shape))
            off += g.size
    for k in bptt.grads:
        assert _blocks(steps[-1])[f"rtrl grad {k}"] == _rows(rtrl.grads[k])
        assert _blocks(steps[-1])[f"bptt grad {k}"] == _rows(bptt.grads[k])
    assert data["comparison"]["max_difference"] == _fmt(_diff(bptt, rtrl))


def test_the_closing_sentence_follows_the_number(traces):
    bptt, rtrl = traces
    agree = _data(tr.teach.step_page(bptt, rtrl))["comparison"]
    assert agree["agree"] and _diff(bptt, rtrl) < 1e-12
    assert f"max |BPTT - RTRL| = {_fmt(_diff(bptt, rtrl))}" in agree["sentence"]
    assert "agree" in agree["sentence"] and "differ" not in agree["sentence"]
    scale = max(float(np.abs(g).max()) for g in bptt.grads.values())
    for shift, agrees in ((1e-3, False), (1e-8 * scale, False), (1e-13 * scale, True)):
        moved = dataclasses.replace(
            rtrl, grads={k: g + (shift if k == "weight_hh" else 0.0) for k, g in rtrl.grads.items()})
        page = tr.teach.step_page(bptt, moved)
        said = _data(page)["comparison"]
        assert said["agree"] is agrees
        assert f"max |BPTT - RTRL| = {_fmt(_diff(bptt, moved))}" in said["sentence"]
        assert ("differ" in said["sentence"]) is not agrees
        assert ("agree" in said["sentence"]) is agrees


def test_repr_html_of_either_trace_is_the_page(traces):
    bptt, rtrl = traces
    frag = bptt._repr_html_()
    assert frag.startswith('<div class="tgr-stepper"') and "<html" not in frag
    data = _data(frag)
    assert list(data["modes"]) == ["bptt"] and data["comparison"] is None
    assert '<button id="mode-rtrl" type="button" disabled' in frag
    frag = rtrl._repr_html_()
    data = _data(frag)
    assert list(data["modes"]) == ["rtrl"] and data["start_mode"] == "rtrl"
    assert data["comparison"]["max_difference"] == _fmt(rtrl.max_difference)  # vs rtrl.bptt_grads
    assert _blocks(data["modes"]["rtrl"][1])["state0"] == _rows(rtrl.steps[1]["state"][0])


def test_write_step_page_and_step_page_for(tmp_path, traces):
    path = tr.teach.write_step_page(tmp_path / "steps.html", *traces)
    assert path == str(tmp_path / "steps.html")
    text = open(path, encoding="utf-8").read()
    assert text == tr.teach.step_page(*traces)
    assert tr.teach.step_page_for(tr.nn.RNNCell(2, 2, seed=1), XS, _loss) == text
    with pytest.raises(FileNotFoundError):  # no folder is made behind the user's back
        tr.teach.write_step_page(tmp_path / "no" / "steps.html", *traces)


def test_traces_of_different_computations_are_refused(traces):
    bptt, _ = traces
    short = tr.teach.rtrl_trace(tr.nn.RNNCell(2, 2, seed=1), XS[:2], None, _loss)
    with pytest.raises(ValueError, match="3 steps, the RTRL trace 2"):
        tr.teach.step_page(bptt, short)
    other = tr.teach.rtrl_trace(tr.nn.LSTMCell(2, 2, seed=1), XS, None, _loss)
    with pytest.raises(ValueError, match=r"'weight_ih' differs .* \(2, 2\), RTRL \(8, 2\)"):
        tr.teach.step_page(bptt, other)


def test_gated_cells_get_a_row_per_gate():
    # an LSTM's forget gate acts on the zero initial cell state: not in step 0's graph
    cell = tr.nn.LSTMCell(2, 2, seed=1)
    bptt = tr.teach.bptt_trace(cell, XS, None, _loss)
    page = tr.teach.step_page(bptt)
    assert "forget gate f" not in bptt.forward[0] and "forget gate f" in bptt.forward[1]
    assert 'id="node-f-1-forget-gate-f"' in page and 'id="node-f-0-forget-gate-f"' not in page
    assert "(not in step 0&#x27;s graph)" in page or "(not in step 0's graph)" in page
    steps = _data(page)["modes"]["bptt"]
    assert _blocks(steps[1])["forget gate f"] == _rows(bptt.forward[1]["forget gate f"])
    assert {"node-f-2-c", "node-f-2-h", "node-f-2-cell-state-c"} <= set(steps[2]["active"])
    assert set(steps[3]["active"]) >= {"node-f-2-c", "node-f-2-h"}
    # a Williams-Zipser net, whose state is its output y: one row for it, ids unique
    net = tr.nn.WilliamsZipserNet(3, 2, seed=1)
    page = tr.teach.step_page(tr.teach.bptt_trace(net, XS, None, _loss),
                              tr.teach.rtrl_trace(net, XS, None, _loss))
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)) and "node-f-2-y" in ids and "node-f-2-y-2" not in ids
    assert _data(page)["comparison"]["agree"]


# -- in a real browser -----------------------------------------------------------------------

def _in_ci():
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, headless, driven by playwright (no browser download: the system
    chromium is used). Skipped when either is missing, except in CI, where that fails."""
    exe = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    missing = [what for what, ok in (("Debian's chromium (apt-get install chromium)", exe),
                                     ("the playwright package (pip install -e '.[dev]')",
                                      sync_playwright)) if not ok]
    if missing:
        why = "the browser test needs " + " and ".join(missing)
        if _in_ci():
            pytest.fail(why + "; CI is set, and .ci/run installs both")
        pytest.skip(why)
    with sync_playwright() as p:  # a chromium that is there but does not start: an error
        b = p.chromium.launch(executable_path=exe, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield b
        b.close()


class _Page:
    """One browser tab on a page, recording requests and script errors."""

    def __init__(self, browser, url=None, content=None):
        self.tab = browser.new_page()
        self.requests, self.errors = [], []
        self.tab.on("request", lambda r: self.requests.append(r.url))
        self.tab.on("pageerror", lambda e: self.errors.append(str(e)))
        self.tab.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        if url:
            self.tab.goto(url)
        else:
            self.tab.set_content(content)

    def status(self):
        return self.tab.text_content("#status")

    def active(self):
        return set(self.tab.eval_on_selector_all(".node.active", "ns => ns.map(n => n.id)"))

    def value(self, node_id):
        return self.tab.text_content(f"[id='{node_id}'] .value")

    def block(self, key):
        rows = self.tab.eval_on_selector_all(
            f"#panel .block[data-key='{key}'] tr",
            "trs => trs.map(tr => Array.from(tr.querySelectorAll('td')).map(td => td.textContent))")
        return [r for r in rows if r]

    def next(self, n=1):
        for _ in range(n):
            self.tab.click("#next")

    def close(self):
        assert self.errors == []
        assert all(u.startswith(("file:", "about:", "data:")) for u in self.requests), \
            self.requests  # nothing fetched from the network
        self.tab.close()


def test_browser_walks_forward_then_backward(browser, traces, tmp_path):
    bptt, rtrl = traces
    path = tr.teach.write_step_page(tmp_path / "steps.html", bptt, rtrl)
    page = _Page(browser, pathlib.Path(path).as_uri())
    assert page.status() == "forward t=0" and page.active() == _column(0)
    assert page.tab.is_disabled("#prev")
    page.next()
    assert page.status() == "forward t=1" and page.active() == _column(1)
    h = bptt.forward[1]["h"][0]
    assert page.value("node-f-1-h") == f"[{_fmt(h[0])}, {_fmt(h[1])}]"
    assert page.block("h") == _rows(bptt.forward[1]["h"])
    assert page.block("loss") == [[_fmt(bptt.losses[1])]]
    assert page.value("node-f-0-h") == ""  # only the step shown carries numbers
    page.next(2)
    assert page.status() == "backward t=2"
    assert page.active() == {"node-f-2-h"} | PARAMS
    d = bptt.deltas[2]["h"][0]
    assert page.value("node-f-2-h") == f"δ [{_fmt(d[0])}, {_fmt(d[1])}]"
    assert page.block("delta h") == _rows(bptt.deltas[2]["h"])
    assert page.block("contribution weight_hh") == _rows(bptt.contributions[2]["weight_hh"])
    page.next(2)
    assert page.status() == "backward t=0" and page.active() == {"node-f-0-h"} | PARAMS
    assert page.block("accumulated bias_ih") == _rows(bptt.accumulated[0]["bias_ih"])
    page.next()
    assert page.status() == "gradient (BPTT)" and page.active() == PARAMS
    assert page.tab.is_disabled("#next")
    assert page.block("grad weight_ih") == _rows(bptt.grads["weight_ih"])
    page.tab.click("#prev")
    assert page.status() == "backward t=0"
    page.tab.keyboard.press("ArrowLeft")
    assert page.status() == "backward t=1" and page.active() == {"node-f-1-h"} | PARAMS
    page.tab.keyboard.press("ArrowRight")
    assert page.status() == "backward t=0"
    page.close()


def test_browser_rtrl_mode_ends_with_the_difference(browser, traces, tmp_path):
    bptt, rtrl = traces
    path = tr.teach.write_step_page(tmp_path / "steps.html", bptt, rtrl)
    page = _Page(browser, "file://" + os.path.abspath(path))
    page.next(2)
    page.tab.click("#mode-rtrl")
    assert page.status() == "RTRL t=0"
    assert page.active() == _column(0) - {"node-f-0-x", "node-f-0-hidden-h-tanh-w-x-u-h-b"} | PARAMS
    P = rtrl.steps[0]["sensitivities"][0]  # (12, 1, 2): d h(0) / d theta
    assert page.block("sens h weight_hh") == _rows(P[4:8, 0])
    page.next()
    assert page.status() == "RTRL t=1"
    assert page.block("gradient so far bias_hh") == _rows(rtrl.steps[1]["gradient"][10:12])
    page.next(2)
    assert page.status() == "RTRL gradient" and page.tab.is_disabled("#next")
    verdict = page.tab.text_content("#verdict")
    assert f"max |BPTT - RTRL| = {_fmt(_diff(bptt, rtrl))}" in verdict
    assert "the two gradients agree" in verdict
    assert page.block("rtrl grad weight_ih") == _rows(rtrl.grads["weight_ih"])
    page.tab.click("#mode-bptt")
    assert page.status() == "forward t=0" and page.active() == _column(0)
    page.close()


def test_browser_two_pages_in_one_notebook_do_not_drive_each_other(browser, traces):
    bptt, rtrl = traces
    moved = dataclasses.replace(rtrl, grads={k: g + 1e-3 for k, g in rtrl.grads.items()})
    html_text = "<html><body>" + bptt._repr_html_() + tr.teach.page._fragment(bptt, moved)[0] \
        + "</body></html>"
    page = _Page(browser, content=html_text)
    second = page.tab.locator(".tgr-stepper").nth(1)
    second.locator("#mode-rtrl").click()
    for _ in range(3):
        second.locator("#next").click()
    assert second.locator("#status").text_content() == "RTRL gradient"
    assert "the two gradients differ" in second.locator("#verdict").text_content()
    first = page.tab.locator(".tgr-stepper").nth(0)
    assert first.locator("#status").text_content() == "forward t=0"
    assert first.locator("#mode-rtrl").is_disabled()
    page.close()
