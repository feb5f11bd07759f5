"""Loops compile in a helper process while calls run uncompiled (runtime/background.py).

The suite itself compiles in-process (tests/conftest.py sets TINYGRAD_RNN_BACKGROUND=0), so
these tests run programs in subprocesses with helpers on and an empty cache of their own:
no call waits for Numba, the tier that answers a call never changes its values, the call
after the helper is done loads machine code from the disk cache (Numba's cache statistics
say so), a program that ends before its helper finishes leaves the next run compiled, and a
helper that fails or dies hands the compile back to the calling process."""
import glob
import json
import os
import subprocess
import sys
import time

import numpy as np

from tinygrad_rnn.runtime import background

PROGRAM = """
import json, sys
import numpy as np
import tinygrad_rnn as tr
from tinygrad_rnn.runtime import background

assert background.ENABLED
xs = tr.placeholder((5, 2, 3))
W = tr.parameter(np.linspace(-1.0, 1.0, 9).reshape(3, 3))
h, hs = tr.scan(lambda h, x: (tr.tanh(x @ W + h),) * 2, tr.zeros((2, 3)), xs)
loss = tr.sum(hs * hs)
f = tr.function([xs], [hs, loss] + tr.grad(loss, [W]))
x = np.random.default_rng(0).normal(size=(5, 2, 3))


def loops():
    return [v.loop for s in f.plan.steps if s.node.op.name == "scan"
            for k, v in s.node.attrs["body"]._functions.items()
            if k[0] == "compiled" and v is not None]


def state():
    return {"n_loops": len(loops()),
            "compiled": [bool(l.signatures) for l in loops()],
            "cache_hits": [sum(l.stats.cache_hits.values()) for l in loops()],
            "cache_misses": [sum(l.stats.cache_misses.values()) for l in loops()]}


report = {}
outs = [f(x) for _ in range(3)]
report["before"] = state()
if sys.argv[1] == "wait":
    report["waited"] = background.wait(timeout=500)
    outs += [f(x) for _ in range(3)]
    report["after"] = state()
np.savez(sys.argv[2], *[a for out in outs for a in out])
print(json.dumps(report))
"""


def _run(tmp_path, mode, cache):
    script = tmp_path / "program.py"
    script.write_text(PROGRAM)
    env = {k: v for k, v in os.environ.items() if k != "TINYGRAD_RNN_QUIET"}
    env.update(TINYGRAD_RNN_BACKGROUND="1", TINYGRAD_RNN_CACHE=str(cache))
    out = tmp_path / f"{mode}.npz"
    done = subprocess.run([sys.executable, str(script), mode, str(out)], env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    with np.load(out) as z:
        arrays = [z[k] for k in sorted(z.files, key=lambda k: int(k.split("_")[1]))]
    n = len(arrays) // (6 if mode == "wait" else 3)
    return report, [arrays[i:i + n] for i in range(0, len(arrays), n)], done.stderr


def _same_on_every_call(calls):
    for k, call in enumerate(calls[1:], 2):
        for a, b in zip(call, calls[0]):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=f"call {k}")


def test_calls_run_uncompiled_until_the_helper_is_done_then_load_its_machine_code(tmp_path):
    report, calls, err = _run(tmp_path, "wait", tmp_path / "cache")
    # the second call would have compiled (COMPILE_AFTER is 2): it asked the helper instead
    assert report["before"]["n_loops"] == 2  # forward and reverse-time loops
    assert report["before"]["compiled"] == [False, False], report
    assert report["waited"] is True
    assert report["after"]["compiled"] == [True, True], report
    # loaded from the disk cache the helper filled, not compiled here
    assert all(h >= 1 for h in report["after"]["cache_hits"]), report
    assert report["after"]["cache_misses"] == [0, 0], report
    _same_on_every_call(calls)
    said = [line for line in err.splitlines() if "helper process" in line]
    assert len(said) == 2 and "calls run uncompiled until it is ready" in said[0], err
    assert len(glob.glob(str(tmp_path / "cache" / "kernels" / "*.compiled"))) == 2


def test_a_program_that_ends_first_leaves_the_next_run_compiled(tmp_path):
    cache = tmp_path / "cache"
    report, calls, _ = _run(tmp_path, "exit", cache)
    assert report["before"]["compiled"] == [False, False], report
    _same_on_every_call(calls)
    # the helper goes on after the program has ended, and marks what it finished
    deadline = time.monotonic() + 600
    while len(glob.glob(str(cache / "kernels" / "*.compiled"))) < 2:
        assert time.monotonic() < deadline, (cache / "kernels" / "helper.log").read_text()
        time.sleep(0.2)
    report2, calls2, err2 = _run(tmp_path, "exit", cache)
    # the second call of the next run loads the machine code at once: no helper, no notice
    assert report2["before"]["compiled"] == [True, True], report2
    assert report2["before"]["cache_misses"] == [0, 0], report2
    assert "helper process" not in err2
    _same_on_every_call(calls + calls2)


def _fresh_helpers(monkeypatch):
    monkeypatch.setattr(background, "_helpers", [])
    monkeypatch.setattr(background, "_requested", {})


def _close_helpers():
    for h in background._helpers:
        h.stdin.close()
        h.wait(timeout=60)


def test_a_module_the_helper_cannot_compile_is_handed_back(tmp_path, monkeypatch):
    _fresh_helpers(monkeypatch)
    path = str(tmp_path / "not_a_module.py")
    sig = background.signature([np.zeros((2, 3)), 4])
    assert sig == [[np.dtype(float).str, 2, "C"], "int"]
    assert background.signature([np.zeros((2, 3)).T])[0][2] == "F"
    try:
        assert background.ready(path, sig) is False  # asked a helper
        assert background.wait(timeout=300) is True
        # the helper could not: the caller goes ahead and compiles (and raises) itself
        assert background.ready(path, sig) is True
        assert glob.glob(path + ".*.compiled.failed")
        assert "Traceback" in (tmp_path / "helper.log").read_text()
    finally:
        _close_helpers()


def test_a_helper_that_died_hands_the_compile_back(tmp_path, monkeypatch):
    _fresh_helpers(monkeypatch)
    path = str(tmp_path / "loop.py")
    sig = background.signature([np.zeros(3, np.float32)])
    assert background.ready(path, sig) is False
    (helper,) = background._helpers
    helper.kill()
    helper.wait(timeout=60)
    assert background.ready(path, sig) is True
    assert background.wait(timeout=1) is True  # nothing left to wait for


def test_requests_made_together_go_to_helpers_side_by_side(tmp_path, monkeypatch):
    """Two modules asked for at once (a loop's forward and reverse-time modules) are
    compiled by two helpers at once (HELPERS of them at most); a third waits its turn."""
    _fresh_helpers(monkeypatch)
    monkeypatch.setattr(background, "HELPERS", 2)
    sig = background.signature([np.zeros(3)])
    try:
        for k in range(3):
            assert background.ready(str(tmp_path / f"m{k}.py"), sig) is False
        assert len(background._helpers) == 2
        assert len({id(h) for h in background._requested.values()}) == 2
        assert background.wait(timeout=300) is True  # (none exists: each one fails)
        assert len(glob.glob(str(tmp_path / "*.failed"))) == 3
    finally:
        _close_helpers()
