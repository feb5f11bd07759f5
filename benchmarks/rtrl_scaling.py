"""python -m benchmarks.rtrl_scaling [--sizes 16 32 64 128] [--steps 50] [--table-only]:
RTRL (the library's generic step and the textbook p^k_ij recursion) against BPTT on the
fully recurrent network, time per step and the numbers each keeps, against n; writes
benchmarks/rtrl_scaling.json and the table of docs/tutorial.md between its markers (with
--table-only: the table from the committed JSON, no measuring). tests/test_docs.py checks
that the tutorial's table is what this module makes of the committed JSON."""
from __future__ import annotations

import argparse
import datetime
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "rtrl_scaling.json"
TUTORIAL = ROOT / "docs" / "tutorial.md"
START = "<!-- rtrl scaling: written by `python -m benchmarks.rtrl_scaling` -->"
END = "<!-- end of rtrl scaling -->"


def render(data: dict) -> str:
    """The tutorial's table and its sentence for one run."""
    rows = data["rows"]
    lines = [f"Measured {data['date']} on {data['machine']}, T = {rows[0]['T']}, one sequence, "
             "best of three (time per step; the numbers each method keeps for one sequence):",
             "",
             "| n | weights | RTRL generic | RTRL textbook | BPTT | RTRL / BPTT | sensitivities "
             "(RTRL) | stored states (BPTT) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['n']} | {r['weights']:,} | {r['rtrl_generic'] * 1e3:.3g} ms | "
                     f"{r['rtrl_textbook'] * 1e3:.3g} ms | {r['bptt'] * 1e3:.3g} ms | "
                     f"{r['rtrl_generic'] / r['bptt']:,.0f} | {r['rtrl_numbers']:,} | "
                     f"{r['bptt_numbers']:,} |")
    a, b = rows[0], rows[-1]
    k = b["n"] / a["n"]
    lines += ["", f"From n = {a['n']} to {b['n']} RTRL's step took "
              f"{b['rtrl_generic'] / a['rtrl_generic']:.0f} times longer (textbook "
              f"{b['rtrl_textbook'] / a['rtrl_textbook']:.0f}; O(n^4) predicts {k ** 4:.0f}), "
              f"BPTT's {b['bptt'] / a['bptt']:.1f} times (O(n^2): {k ** 2:.0f}). At small n "
              "and on a busy machine the times include the cost of a call, so the measured "
              "growth is below the arithmetic's."]
    return "\n".join(lines)


def section(text: str) -> str:
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n")


def write_table(data: dict) -> None:
    text = TUTORIAL.read_text()
    TUTORIAL.write_text(text.split(START, 1)[0] + START + "\n" + render(data) + "\n" + END
                        + text.split(END, 1)[1])


def main(argv=None) -> int:
    from .__main__ import machine
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--steps", type=int, default=50, help="T, the sequence length")
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args(argv)
    if not args.table_only:
        from tinygrad_rnn.learn.costs import rtrl_bptt_costs
        rows = rtrl_bptt_costs(tuple(args.sizes), T=args.steps)
        data = dict(date=datetime.date.today().isoformat(), machine=machine(), rows=rows)
        RESULTS.write_text(json.dumps(data, indent=1) + "\n")
    data = json.loads(RESULTS.read_text())
    write_table(data)
    print(render(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
