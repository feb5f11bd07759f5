"""python -m benchmarks.readme [RESULTS.json]: README's speed table and the sentences under it,
written from one benchmark run's JSON (default benchmarks/results.json, which
``python -m benchmarks --json benchmarks/results.json`` writes), so that README states the
numbers of the machine it names. tests/test_readme.py checks that README's section is what
this module makes of the committed JSON."""
from __future__ import annotations

import json
import pathlib
import re
import sys

from .contestants import SIZES

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results.json"
START = "<!-- speed table: written by `python -m benchmarks.readme` from benchmarks/results.json -->"
END = "<!-- end of speed table -->"
COLUMNS = [("tinygrad_rnn", "tinygrad_rnn"), ("pytorch", "PyTorch"), ("jax", "JAX"),
           ("jax-export", "our graph through JAX"), ("numpy by hand", "NumPy by hand")]


def _ms(v) -> str:
    return "–" if v is None else f"{v:.2f} ms" if v >= 0.1 else f"{v:.3f} ms"


def render(data: dict) -> str:
    """The Markdown of README's speed section for one benchmark run."""
    quiet, busy = {}, {}
    cases = []
    for r in data["results"]:
        case = (r["model"], r["size"], r["dtype"])
        if case not in cases:
            cases.append(case)
        (busy if r.get("contended") else quiet)[case + (r["contestant"],)] = r
    have = [(key, title) for key, title in COLUMNS if any(k[3] == key for k in quiet)]
    versions = ", ".join(f"{k} {v}" for k, v in data.get("versions", {}).items())
    lines = [f"Measured {data.get('date', '?')} on {data['machine']}"
             + (f" ({versions})" if versions else "") + ": medians of interleaved rounds, "
             "each contestant in its own process; a ratio below 1 means tinygrad_rnn is faster.",
             ""]
    head = ["model", "size (B, I, H, T)", "dtype"] + [t for _, t in have]
    refs = [(key, title) for key, title in have if key in ("pytorch", "jax")]
    head += [f"tinygrad_rnn / {t}" for _, t in refs]
    contended = any(k[3] == "tinygrad_rnn" for k in busy)
    if contended:
        head.append("tinygrad_rnn with one core busy / quiet")
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ratios = {key: [] for key, _ in refs}
    for case in cases:
        model, size, dtype = case
        med = {key: quiet.get(case + (key,), {}).get("median_ms") for key, _ in have}
        row = [model, f"{size} {SIZES[size]}".replace(",)", ")"), dtype]
        row += [_ms(med[key]) for key, _ in have]
        for key, _ in refs:
            if med["tinygrad_rnn"] is None or med[key] is None:
                row.append("–")
                continue
            ratio = med["tinygrad_rnn"] / med[key]
            ratios[key].append((ratio, case))
            row.append(f"**{ratio:.2f}x**")
        if contended:
            b = busy.get(case + ("tinygrad_rnn",))
            row.append(f"{b['slowdown']:.2f}x" if b else "–")
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for key, title in refs:
        rs = ratios[key]
        if not rs:
            continue
        slower = sorted((r, c) for r, c in rs if r >= 1)
        text = f"Faster than {title} in {len(rs) - len(slower)} of {len(rs)} cases"
        if slower:
            text += "; slower in " + ", ".join(f"{m} {s} {d} ({r:.2f}x)" for r, (m, s, d) in slower)
        lines.append(text + ".")
    exported = [(quiet[c + ("jax-export",)]["median_ms"] / quiet[c + ("jax",)]["median_ms"], c)
                for c in cases if c + ("jax-export",) in quiet and c + ("jax",) in quiet]
    if exported:
        (lo, c_lo), (hi, c_hi) = min(exported), max(exported)
        lines.append(f"Our graph exported to JAX (`tr.export.to_jax`, jitted) took {lo:.2f}x "
                     f"({' '.join(c_lo)}) to {hi:.2f}x ({' '.join(c_hi)}) the time of the "
                     "LSTM, GRU or RNN written by hand in JAX.")
    if contended:
        worst = max(busy[k]["slowdown"] for k in busy if k[3] == "tinygrad_rnn")
        lines.append(f"With another process keeping one core busy (`--contended`), tinygrad_rnn's "
                     f"steps took at most {worst:.2f}x their quiet time.")
    if data.get("scaling"):
        lines.append("Time per step against T (small float32 LSTM): " + ", ".join(
            f"{s['median_ms'] / s['T']:.3f} ms at T={s['T']}" for s in data["scaling"]) + ".")
    return "\n".join(lines)


def _match(text: str):
    match = re.search(re.escape(START) + r"\n(.*?)" + re.escape(END), text, re.S)
    if match is None:
        raise SystemExit(f"README.md has no section between {START!r} and {END!r}")
    return match


def section(text: str) -> str:
    """README's generated section (between the markers)."""
    return _match(text).group(1).rstrip("\n")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = pathlib.Path(argv[0]) if argv else RESULTS
    readme = ROOT / "README.md"
    text = readme.read_text()
    match = _match(text)
    new = render(json.loads(path.read_text()))
    readme.write_text(text[:match.start(1)] + new + "\n" + text[match.end(1):])
    print(f"README.md: speed section written from {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
