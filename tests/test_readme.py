"""README's examples run and print what README says they print."""
import contextlib
import io
import pathlib
import re

README = pathlib.Path(__file__).parent.parent / "README.md"


def blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def expected_outputs(code):
    """The '# value' comments that follow a print(...) on its line or on the next line."""
    out, lines = [], code.splitlines()
    for k, line in enumerate(lines):
        if line.lstrip().startswith("print("):
            comment = line.split("#", 1)[1].strip() if "#" in line else lines[k + 1].strip().lstrip("# ")
            out.append(comment)
    return out


def test_readme_examples_print_what_readme_says():
    namespace = {}
    for code in blocks():
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            exec(compile(code, str(README), "exec"), namespace)
        printed = [line.strip() for line in buffer.getvalue().splitlines()]
        assert printed == expected_outputs(code)


def test_readme_error_examples_are_what_the_library_says():
    """The GraphError lines README shows are the first lines of the errors these calls raise."""
    import numpy as np
    import pytest

    import tinygrad_rnn as tr
    shown = re.findall(r"^  GraphError: (.*)$", README.read_text(), re.M)
    calls = [lambda: tr.placeholder((3, 4)) @ tr.placeholder((5, 4)),
             lambda: tr.softmax(tr.placeholder((2, 3), np.int64))]
    assert len(shown) == len(calls)
    for line, call in zip(shown, calls):
        with pytest.raises(tr.GraphError) as info:
            call()
        assert str(info.value).splitlines()[0] == line
        assert f"{__file__}:" in str(info.value)


def test_readme_speed_table_is_the_committed_benchmark_run():
    """README's speed table and the sentences under it are what benchmarks/readme.py makes
    of benchmarks/results.json (a benchmark run on the machine the section names)."""
    import json

    from benchmarks.readme import RESULTS, render, section
    data = json.loads(RESULTS.read_text())
    assert section(README.read_text()) == render(data)
    assert data["machine"] in section(README.read_text())
    rows = [r for r in data["results"] if r["contestant"] == "tinygrad_rnn" and not r.get("contended")]
    assert len(rows) == 24  # 3 models x 4 sizes x 2 dtypes
