"""A compile that takes over a second says so, on one line of stderr, once; the environment
variable TINYGRAD_RNN_QUIET silences it."""
import os
import subprocess
import sys
import time

import tinygrad_rnn.runtime.notice as notice

SCRIPT = """
import numpy as np, tinygrad_rnn as tr
xs = tr.placeholder((4, 2, 3))
W = tr.parameter(np.ones((3, 3)) * 0.1)
h, hs = tr.scan(lambda h, x: (tr.tanh(x @ W + h),) * 2, tr.zeros((2, 3)), xs)
f = tr.function([xs], [hs])
for _ in range(3):
    f(np.ones((4, 2, 3)))
"""


def test_a_slow_body_gets_one_line(capsys, monkeypatch):
    monkeypatch.delenv("TINYGRAD_RNN_QUIET", raising=False)
    with notice.slow_notice("the test's loop", after_s=0.05):
        time.sleep(0.3)
    with notice.slow_notice("a quick one", after_s=0.5):
        pass
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "compiling the test's loop" in err[0] and "once" in err[0]
    assert "TINYGRAD_RNN_QUIET" in err[0]


def test_quiet_silences_it(capsys, monkeypatch):
    monkeypatch.setenv("TINYGRAD_RNN_QUIET", "1")
    with notice.slow_notice("the test's loop", after_s=0.05):
        time.sleep(0.2)
    assert capsys.readouterr().err == ""


def test_a_cold_loop_compile_says_what_it_compiles(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TINYGRAD_RNN_QUIET"}
    env["TINYGRAD_RNN_CACHE"] = str(tmp_path)  # empty: the loop must compile
    path = tmp_path / "user_script.py"
    path.write_text(SCRIPT)
    done = subprocess.run([sys.executable, str(path)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("tinygrad_rnn:")]
    assert len(lines) == 1, done.stderr
    assert "forward loop of a scan" in lines[0] and f"{path}:5" in lines[0]


def test_a_function_shows_the_source_of_its_loops():
    """f.source(): the generated Numba code of every compiled loop, headed by the user's line;
    a checkpointed scan's outer loop says it runs in Python and shows its inner loops."""
    import numpy as np

    import tinygrad_rnn as tr
    xs = tr.placeholder((6, 2, 3))
    lstm = tr.nn.LSTM(3, 4, seed=0)
    out, _ = lstm(xs)  # the step's line
    loss = tr.sum(out * out)
    f = tr.function([xs], [loss] + tr.grad(loss, list(lstm.parameters().values())))
    text = f.source()
    assert text.count("def loop(") == 2 and text.count("def body(") == 2  # forward, backward
    assert f"{__file__}:" in text and "reverse" in text
    out2, _ = lstm(xs, checkpoint=2)
    g = tr.function([xs], tr.grad(tr.sum(out2), [xs]))
    text2 = g.source()
    assert "runs as a Python loop over its step (a scan inside a scan's step)" in text2
    assert "def loop(" in text2
    g(np.ones((6, 2, 3)))  # and it still runs
