"""The benchmark's contestants compute what they claim: our graph exported to JAX gives our
own step's loss and gradients; ``python -m benchmarks.gpu`` says when there is no GPU and
measures (on JAX's CPU device here) an exported step that agrees with the numba backend.
Timings are never asserted."""
from __future__ import annotations

import os

import numpy as np
import pytest

try:
    import jax
except ImportError:
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        raise
    pytest.skip("JAX is not installed (pip install -e '.[jax]')", allow_module_level=True)

from benchmarks import contestants, gpu, readme  # noqa: E402


@pytest.fixture
def restore_x64():
    """The contestants set JAX's global x64 flag, as each does in its own worker process."""
    was = jax.config.jax_enable_x64
    yield
    jax.config.update("jax_enable_x64", was)


@pytest.mark.parametrize("model", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_jax_export_contestant_computes_our_step(model, dtype, restore_x64):
    """The same loss and gradients as the tinygrad_rnn contestant (numba), three calls each."""
    shape = (2, 3, 4, 5)
    ours = contestants.tinygrad(model, *shape, dtype)
    exported = contestants.jax_export_step(model, *shape, dtype)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    want = ours()
    assert len(want) == 1 + {"LSTM": 4, "GRU": 4, "RNN": 4}[model]
    for _ in range(3):
        got = exported()
        for g, w in zip(got, want):
            np.testing.assert_allclose(np.asarray(g), w, rtol=tol, atol=tol)
    assert "jax-export" in contestants.available()


def test_gpu_benchmark_says_when_there_is_no_gpu(capsys):
    if any(d.platform == "gpu" for d in jax.devices()):
        pytest.skip("this machine has a GPU")  # (the message is for machines without one)
    assert gpu.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("no GPU here: JAX sees cpu:0")


def test_gpu_benchmark_measures_and_checks_on_the_cpu_device(capsys, restore_x64, tmp_path):
    """--allow-cpu: the whole measurement on JAX's CPU device at the tiny size; the exported
    gradient agrees with the numba backend and the verdict lines state the measured numbers."""
    path = tmp_path / "gpu.json"
    assert gpu.main(["--allow-cpu", "--sizes", "tiny", "--repeats", "3", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    import json
    data = json.loads(path.read_text())
    (row,) = data["rows"]
    assert row["agreement"] <= gpu.AGREE and set(row["ms"]) == {"jax-export", "jax"}
    assert f"at most {row['agreement']:.1e} of each output's largest value" in out
    assert "agrees with the CPU result" in out
    assert f"at most {row['ratio_to_jax']:.2f}x the hand-written JAX step" in out


def test_readme_sentence_for_the_exported_graph():
    """README's table gains a column and a sentence for jax-export when a run has it."""
    rows = []
    for size, ours, hand in (("tiny", 1.0, 2.0), ("small", 3.0, 2.0)):
        for name, ms in (("tinygrad_rnn", 1.0), ("pytorch", 2.0), ("jax", hand),
                         ("jax-export", ours)):
            rows.append(dict(model="LSTM", size=size, dtype="float32", contestant=name,
                             median_ms=ms))
    text = readme.render(dict(results=rows, machine="M"))
    assert "| our graph through JAX |" in text.splitlines()[2]  # the header
    assert ("took 0.50x (LSTM tiny float32) to 1.50x (LSTM small float32) the time of the LSTM, "
            "GRU or RNN written by hand in JAX") in text
