"""Redraw the tutorial's pictures: run every code block of docs/tutorial.md, in order, from
the docs folder (the blocks write into img/).

    python docs/make_pictures.py
"""
import os
import pathlib
import re

HERE = pathlib.Path(__file__).resolve().parent


def blocks(path=HERE / "tutorial.md"):
    """The ```python blocks of the tutorial, in order."""
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


def run(folder):
    """Run the blocks in ``folder`` (which gets an img/ subfolder); returns the namespace."""
    os.makedirs(os.path.join(folder, "img"), exist_ok=True)
    cwd, namespace = os.getcwd(), {}
    os.chdir(folder)
    try:
        for code in blocks():
            exec(compile(code, str(HERE / "tutorial.md"), "exec"), namespace)
    finally:
        os.chdir(cwd)
    return namespace


if __name__ == "__main__":
    run(HERE)
    os.remove(HERE / "img" / "echo.npz")  # the parameter file of section 7 is not a picture
    print("redrew the pictures in", HERE / "img")
