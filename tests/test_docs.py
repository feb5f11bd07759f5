"""The tutorial's code runs, prints what the tutorial says, and draws every picture it shows
(and those pictures are in docs/img)."""
import contextlib
import importlib.util
import io
import pathlib
import re

DOCS = pathlib.Path(__file__).parent.parent / "docs"
spec = importlib.util.spec_from_file_location("make_pictures", DOCS / "make_pictures.py")
make_pictures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_pictures)


def expected_outputs(code):
    """The '# value' comment at the end of each print(...) line."""
    return [line.split("#", 1)[1].strip() for line in code.splitlines()
            if line.lstrip().startswith("print(") and "#" in line]


def test_tutorial_runs_prints_what_it_says_and_draws_its_pictures(tmp_path):
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        make_pictures.run(str(tmp_path))
    printed = [line.strip() for line in buffer.getvalue().splitlines()]
    expected = [e for code in make_pictures.blocks() for e in expected_outputs(code)]
    assert printed == expected
    shown = re.findall(r"!\[[^\]]*\]\((img/[^)]+)\)", (DOCS / "tutorial.md").read_text())
    assert len(shown) >= 7
    for picture in shown:
        assert (tmp_path / picture).exists(), f"no block draws {picture}"
        assert (DOCS / picture).exists(), f"{picture} is not in docs/ (python docs/make_pictures.py)"


def test_readme_pictures_and_their_sentences_are_what_make_pictures_draws(tmp_path):
    """README's "Pictures" text is what docs/make_pictures.py makes of the pictures it draws
    (its sentences from their numbers), and each picture it shows is in docs/img."""
    with contextlib.redirect_stdout(io.StringIO()):
        text = make_pictures.readme_pictures(str(tmp_path))
    readme = make_pictures.README.read_text()
    assert make_pictures.readme_section(readme) == text
    shown = re.findall(r"!\[[^\]]*\]\(docs/(img/[^)]+)\)", readme)
    assert len(shown) >= 5
    for picture in shown:
        assert (DOCS / picture).exists(), f"{picture} is not in docs/ (python docs/make_pictures.py)"
    for picture in re.findall(r"\((docs/img/[^)]+)\)", text):
        assert (tmp_path / picture[len("docs/"):]).exists()


def test_tutorial_rtrl_scaling_table_is_the_committed_benchmark_run():
    """The tutorial's RTRL-against-BPTT table is what benchmarks/rtrl_scaling.py makes of the
    committed benchmarks/rtrl_scaling.json, and that run shows the asymptotics it states."""
    import json

    from benchmarks.rtrl_scaling import RESULTS, render, section
    data = json.loads(RESULTS.read_text())
    assert section((DOCS / "tutorial.md").read_text()) == render(data)
    a, b = data["rows"][0], data["rows"][-1]
    assert b["n"] >= 4 * a["n"]
    for rtrl in ("rtrl_generic", "rtrl_textbook"):  # RTRL's step grows far faster than BPTT's
        assert b[rtrl] / a[rtrl] > 4 * b["bptt"] / a["bptt"]
    for r in data["rows"]:
        assert r["rtrl_numbers"] == r["n"] * r["weights"] and r["bptt_numbers"] == r["T"] * r["n"]
