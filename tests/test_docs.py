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
