"""Bad input, table-driven: every mistake a careful new user might make gets a ``tr.GraphError``
(a ValueError), ``TypeError`` or ``ValueError`` whose message names the function the user
called (not a primitive underneath it), says what was expected and what was given and, for a
GraphError, points at the user's line: the line of the row below that did the bad thing.
Errors come when the graph is built, before anything runs, and a failed call changes nothing.

Each row is ``(id, callable, expected exception type, [regexes the message must contain])``.
Regexes are searched case-insensitively in the message with this file's ``path:line``
references removed (so that digits in a line number cannot satisfy a pattern).
"""
import atexit
import math
import os
import re
import shutil
import tempfile
import traceback
import types
import warnings

import numpy as np
import pytest

import tinygrad_rnn as tr

HERE = re.escape(__file__)
G = tr.GraphError
TMP = tempfile.mkdtemp(prefix="tr_bad_input_")
atexit.register(shutil.rmtree, TMP, True)

RAGGED = r"ragged|inhomogeneous|rectangular|same length|equal length|nested"
INTDT = r"int64"
FLOAT = r"float"
COMPLEX = r"complex"


def sh(*dims):
    """A regex for the printed shape tuple ``dims``."""
    return re.escape(str(tuple(dims)))


def path(name):
    return os.path.join(TMP, name)


# ---- fixtures shared by the rows (built once; every row's own mistake is on its own line) --

X = tr.placeholder((2, 3), name="x")
V = tr.placeholder((3,), name="v")
X32 = tr.placeholder((2, 3), np.float32, name="x32")
XI = tr.placeholder((2, 3), np.int64, name="xi")
INT = tr.tensor(np.array([[1, 2, 3], [4, 5, 6]]))
W = tr.parameter(np.zeros((2, 3)), name="w")
B3 = tr.placeholder((2, 2, 3), name="b3")

H0 = tr.zeros((2,))
SEQ = tr.placeholder((5, 2), name="seq")
STEP = lambda h, x: (h + x, h)          # noqa: E731  a good step for SEQ
STEP2 = lambda h, xs: (h + xs[0], h)    # noqa: E731  a good step for a pair of sequences

RCELL = tr.nn.RNNCell(2, 3, seed=0)
LCELL = tr.nn.LSTMCell(2, 3, seed=0)
GCELL = tr.nn.GRUCell(2, 3, seed=0)
LSTM = tr.nn.LSTM(2, 3, seed=0)
GRU = tr.nn.GRU(2, 3, seed=0)
RNN = tr.nn.RNN(2, 3, seed=0)
XS = np.ones((4, 1, 2))                 # (T, B, I) for the cells and layers above
LOSS = lambda t, y: (y * y).sum()       # noqa: E731


def _compiled(x):
    """A compiled function of placeholder ``x`` (built by the row, on the row's line). The
    NumPy backend only keeps the module fast: feeds are checked the same way on both."""
    return tr.function([x], [x.sum()], backend="numpy")


def _fresh_param():
    return tr.parameter(np.zeros((2, 3)), name="w")


def _load_npy():
    np.save(path("params.npy"), np.zeros((2, 3)))
    tr.load_params(path("params.npy"), {"w": _fresh_param()})


def _load_truncated():
    p = tr.save_params(path("truncated.npz"), {"w": _fresh_param()})
    data = open(p, "rb").read()
    with open(p, "wb") as fh:
        fh.write(data[: len(data) // 2])
    tr.load_params(p, {"w": _fresh_param()})


def _load_text():
    with open(path("notes.txt"), "w") as fh:
        fh.write("these are not parameters\n")
    tr.load_params(path("notes.txt"), {"w": _fresh_param()})


def _load_foreign_npz():
    np.savez(path("foreign.npz"), w=np.zeros((2, 3)))
    tr.load_params(path("foreign.npz"), {"w": _fresh_param()})


def _load_wrong_keys():
    tr.save_params(path("keys.npz"), {"v": _fresh_param()})
    tr.load_params(path("keys.npz"), {"w": _fresh_param()})


def _load_wrong_shape():
    tr.save_params(path("shape.npz"), {"w": tr.parameter(np.zeros((3, 2)))})
    tr.load_params(path("shape.npz"), {"w": _fresh_param()})


def _state_dict_with(key, value):
    d = LCELL.state_dict()
    d[key] = value
    return d


ROWS = [
    # ---- softmax family and reductions: dtype, axis out of range, float axis, repeated axes
    ("softmax-int", lambda: tr.softmax(INT), G, ["softmax", INTDT, FLOAT]),
    ("log_softmax-int", lambda: tr.log_softmax(INT), G, ["log_softmax", INTDT, FLOAT]),
    ("logsumexp-int", lambda: tr.logsumexp(INT), G, ["logsumexp", INTDT, FLOAT]),
    ("softmax-method-int", lambda: INT.softmax(), G, ["softmax", INTDT, FLOAT]),
    ("mean-int", lambda: tr.mean(INT), G, ["mean", INTDT, FLOAT]),
    ("softplus-int", lambda: tr.softplus(INT), G, ["softplus", INTDT, FLOAT]),
    ("softmax-axis5", lambda: tr.softmax(X, axis=5), G, ["softmax", r"axis 5", r"2 dim"]),
    ("log_softmax-axis5", lambda: tr.log_softmax(X, axis=5), G, ["log_softmax", r"axis 5", r"2 dim"]),
    ("logsumexp-axis5", lambda: tr.logsumexp(X, axis=5), G, ["logsumexp", r"axis 5", r"2 dim"]),
    ("sum-axis5", lambda: X.sum(axis=5), G, ["sum", r"axis 5", r"2 dim"]),
    ("mean-axis5", lambda: X.mean(axis=5), G, ["mean", r"axis 5", r"2 dim"]),
    ("max-axis5", lambda: X.max(axis=5), G, ["max", r"axis 5", r"2 dim"]),
    ("min-axis-3", lambda: X.min(axis=-3), G, [r"\bmin\b", r"axis -3", r"2 dim"]),
    ("sum-axis-float", lambda: X.sum(axis=1.5), G, ["sum", r"axis", r"1\.5", r"int"]),
    ("mean-axis-float", lambda: X.mean(axis=1.5), G, ["mean", r"axis", r"1\.5", r"int"]),
    ("max-axis-float", lambda: tr.max(X, axis=0.5), G, ["max", r"axis", r"0\.5", r"int"]),
    ("softmax-axis-float", lambda: tr.softmax(X, axis=1.5), G, ["softmax", r"axis", r"1\.5", r"int"]),
    ("logsumexp-axis-float", lambda: tr.logsumexp(X, axis=1.5), G, ["logsumexp", r"axis", r"1\.5"]),
    ("sum-axis-tuple-with-float", lambda: X.sum(axis=(0, 1.5)), G, ["sum", r"axis", r"1\.5"]),
    ("sum-axis-str", lambda: X.sum(axis="rows"), G, ["sum", r"axis", r"rows"]),
    ("sum-axis-bool", lambda: X.sum(axis=True), G, ["sum", r"axis", r"True|bool"]),
    ("sum-repeated-axes", lambda: X.sum(axis=(1, 1)), G, ["sum", r"repeated", r"\(1, 1\)"]),
    ("sum-repeated-axes-negative", lambda: X.sum(axis=(0, -2)), G, ["sum", r"repeated", r"\(0, -2\)"]),
    ("mean-repeated-axes", lambda: X.mean(axis=(0, 0)), G, ["mean", r"repeated"]),
    ("logsumexp-repeated-axes", lambda: tr.logsumexp(X, axis=(1, -1)), G, ["logsumexp", r"repeated"]),
    ("softmax-repeated-axes", lambda: tr.softmax(X, axis=(1, 1)),
     G, ["softmax", r"repeated|an int", r"\(1, 1\)"]),

    # ---- stack / concat / split
    ("stack-shapes-rank", lambda: tr.stack([X, V]), G, [r"\bstack\b", sh(2, 3), sh(3)]),
    ("stack-shapes", lambda: tr.stack([X, tr.placeholder((3, 2))]), G, [r"\bstack\b", sh(2, 3), sh(3, 2)]),
    ("stack-dtypes", lambda: tr.stack([X, X32]), G, [r"\bstack\b", "float64", "float32"]),
    ("stack-empty", lambda: tr.stack([]), G, [r"\bstack\b", r"at least one|empty"]),
    ("stack-axis", lambda: tr.stack([X, X], axis=4), G, [r"\bstack\b", r"axis 4"]),
    ("stack-none", lambda: tr.stack([X, None]), G, [r"\bstack\b", r"None"]),
    ("concat-shapes", lambda: tr.concat([X, tr.placeholder((2, 4))]), G, ["concat", sh(2, 3), sh(2, 4)]),
    ("concat-ranks", lambda: tr.concat([X, V]), G, ["concat", sh(2, 3), sh(3)]),
    ("concat-dtypes", lambda: tr.concat([X, X32]), G, ["concat", "float64", "float32"]),
    ("concat-empty", lambda: tr.concat([]), G, ["concat", r"at least one|empty"]),
    ("concat-axis", lambda: tr.concat([X, X], axis=2), G, ["concat", r"axis 2"]),
    ("concat-0d", lambda: tr.concat([tr.tensor(1.0), tr.tensor(2.0)]), G, ["concat", r"0-d|scalar|0 dim"]),
    ("concat-none", lambda: tr.concat([X, None]), G, ["concat", r"None"]),
    ("concatenate-shapes", lambda: tr.concatenate([X, V]), G, ["concat", sh(2, 3), sh(3)]),
    ("split-unequal", lambda: tr.split(X, 4, axis=1), G, ["split", r"\b3\b", r"\b4\b"]),
    ("split-zero", lambda: tr.split(X, 0), G, ["split", r"\b0\b"]),
    ("split-negative", lambda: tr.split(X, -1), G, ["split", r"-1"]),
    ("split-float", lambda: tr.split(X, 1.5), G, ["split", r"1\.5"]),
    ("split-axis", lambda: tr.split(X, 2, axis=2), G, ["split", r"axis 2"]),

    # ---- binary operators
    ("int-plus-half", lambda: INT + 0.5, G, [r"\badd\b", r"0\.5", INTDT]),
    ("half-plus-int", lambda: 0.5 + INT, G, [r"\badd\b", r"0\.5", INTDT]),
    ("int-times-half", lambda: INT * 0.5, G, [r"\bmul", r"0\.5", INTDT]),
    ("int-placeholder-minus-half", lambda: XI - 0.5, G, [r"\bsub", r"0\.5", INTDT]),
    ("param-plus-none", lambda: W + None, G, [r"\badd\b", r"None"]),
    ("none-plus-param", lambda: None + W, G, [r"\badd\b", r"None"]),
    ("param-times-none", lambda: W * None, G, [r"\bmul", r"None"]),
    ("maximum-none", lambda: tr.maximum(X, None), G, ["maximum", r"None"]),
    ("less-none", lambda: X < None, G, [r"\bless\b", r"None"]),
    ("add-str", lambda: X + "abc", G, [r"\badd\b", r"str|'abc'"]),
    ("add-str-array", lambda: X + np.array(["a", "b", "c"]), G, [r"\badd\b", r"str|<U1|string"]),
    ("add-dict", lambda: X + {"a": 1}, G, [r"\badd\b", r"dict"]),
    ("add-object", lambda: X + object(), G, [r"\badd\b", r"object"]),
    ("add-complex", lambda: X + 1j, G, [r"\badd\b", COMPLEX]),
    ("mul-complex-array", lambda: X * np.ones(3, complex), G, [r"\bmul", COMPLEX]),
    ("add-ragged-list", lambda: X + [[1.0, 2.0], [3.0]], G, [r"\badd\b", RAGGED]),
    ("radd-ragged-list", lambda: [[1.0, 2.0], [3.0]] + X, G, [r"\badd\b", RAGGED]),
    ("add-no-broadcast", lambda: X + tr.placeholder((4,)), G, [r"\badd\b", sh(2, 3), sh(4), "broadcast"]),
    ("sub-no-broadcast", lambda: X - np.ones((3, 3)), G, [r"\bsub", sh(2, 3), sh(3, 3), "broadcast"]),
    ("div-no-broadcast", lambda: X / tr.placeholder((2,)), G, [r"\bdiv", sh(2, 3), sh(2), "broadcast"]),
    ("pow-no-broadcast", lambda: X ** tr.placeholder((5, 1, 4)), G, [r"\bpow", sh(2, 3), sh(5, 1, 4)]),
    ("f32-times-f64", lambda: X32 * X, G, [r"\bmul", "float32", "float64"]),
    ("f32-plus-f64-array", lambda: X32 + np.ones((2, 3)), G, [r"\badd\b", "float32", "float64"]),
    ("int-plus-float-tensor", lambda: INT + X, G, [r"\badd\b", INTDT, "float64"]),
    ("maximum-dtypes", lambda: tr.maximum(X32, X), G, ["maximum", "float32", "float64"]),

    # ---- unary functions and casts
    ("exp-int", lambda: tr.exp(INT), G, [r"\bexp\b", INTDT, FLOAT]),
    ("sigmoid-int", lambda: tr.sigmoid(INT), G, ["sigmoid", INTDT, FLOAT]),
    ("tanh-none", lambda: tr.tanh(None), G, ["tanh", r"None"]),
    ("log-str", lambda: tr.log("abc"), G, [r"\blog\b", r"str|'abc'"]),
    ("sqrt-complex", lambda: tr.sqrt(1j), G, ["sqrt", COMPLEX]),
    ("astype-complex", lambda: X.astype(np.complex128), G, [r"astype|cast", "complex128"]),
    ("astype-nonsense", lambda: X.astype("banana"), G, ["astype", r"banana"]),

    # ---- leaf constructors
    ("tensor-none", lambda: tr.tensor(None), G, ["tensor", r"None"]),
    ("tensor-str", lambda: tr.tensor("abc"), G, ["tensor", r"str|'abc'"]),
    ("tensor-str-array", lambda: tr.tensor(np.array(["a"])), G, ["tensor", r"str|<U1|string"]),
    ("tensor-complex", lambda: tr.tensor(1 + 2j), G, ["tensor", COMPLEX]),
    ("tensor-complex-list", lambda: tr.tensor([1 + 2j, 3.0]), G, ["tensor", COMPLEX]),
    ("tensor-ragged", lambda: tr.tensor([[1.0, 2.0], [3.0]]), G, ["tensor", RAGGED]),
    ("tensor-dict", lambda: tr.tensor({"a": 1}), G, ["tensor", r"dict"]),
    ("tensor-list-with-none", lambda: tr.tensor([1.0, None]), G, ["tensor", r"None"]),
    ("tensor-bad-dtype", lambda: tr.tensor(1.0, dtype="banana"), G, ["tensor", r"dtype", r"banana"]),
    ("tensor-complex-dtype", lambda: tr.tensor(np.ones(2), dtype=np.complex128), G, ["tensor", COMPLEX]),
    ("parameter-ints", lambda: tr.parameter(np.array([1, 2])), G, ["parameter", INTDT, FLOAT]),
    ("parameter-int-scalar", lambda: tr.parameter(3), G, ["parameter", r"int", FLOAT]),
    ("parameter-bool", lambda: tr.parameter(True), G, ["parameter", r"bool", FLOAT]),
    ("parameter-int-dtype", lambda: tr.parameter(np.zeros(2), dtype=np.int32),
     G, ["parameter", "int32", FLOAT]),
    ("parameter-complex", lambda: tr.parameter(np.ones(2) * 1j), G, ["parameter", COMPLEX]),
    ("parameter-none", lambda: tr.parameter(None), G, ["parameter", r"None"]),
    ("parameter-str", lambda: tr.parameter("abc"), G, ["parameter", r"str|'abc'"]),
    ("parameter-ragged", lambda: tr.parameter([[1.0], [2.0, 3.0]]), G, ["parameter", RAGGED]),
    ("placeholder-float-dim", lambda: tr.placeholder((2.5, 3)), G, ["placeholder", r"2\.5", r"int"]),
    ("placeholder-negative-dim", lambda: tr.placeholder((-1, 3)), G, ["placeholder", r"-1", r"non-negative"]),
    ("placeholder-str-shape", lambda: tr.placeholder("ab"), G, ["placeholder", r"shape", r"'ab'"]),
    ("placeholder-complex", lambda: tr.placeholder((2,), np.complex128), G, ["placeholder", "complex128"]),
    ("placeholder-bad-dtype", lambda: tr.placeholder((2,), "banana"),
     G, ["placeholder", r"dtype", r"banana"]),
    ("zeros-negative", lambda: tr.zeros((-1, 2)), G, ["zeros", r"-1"]),
    ("zeros-str", lambda: tr.zeros("abc"), G, ["zeros", r"abc"]),
    ("zeros-complex-dtype", lambda: tr.zeros((2,), np.complex128), G, ["zeros", "complex128"]),
    ("ones-float-dim", lambda: tr.ones((2.5,)), G, [r"\bones\b", r"2\.5"]),
    ("ones-float-scalar", lambda: tr.ones(2.0), G, [r"\bones\b", r"2\.0"]),
    ("full-complex", lambda: tr.full((2,), 1j), G, [r"\bfull\b", r"1j|complex"]),
    ("full-fraction-into-int", lambda: tr.full((2,), 1.5, dtype=np.int64), G, [r"\bfull\b", r"1\.5", INTDT]),

    # ---- reshape, broadcast_to, transpose, indexing
    ("reshape-negative", lambda: X.reshape(-3, -4), G, ["reshape", r"-3", r"-4"]),
    ("reshape-float", lambda: X.reshape(2.5, 2), G, ["reshape", r"2\.5", r"int"]),
    ("reshape-integral-float", lambda: X.reshape((2, 3.0)), G, ["reshape", r"3\.0", r"int"]),
    ("reshape-two-minus-one", lambda: X.reshape(-1, -1), G, ["reshape", r"-1"]),
    ("reshape-size", lambda: X.reshape(4, 2), G, ["reshape", sh(2, 3), sh(4, 2)]),
    ("reshape-minus-one-size", lambda: X.reshape(-1, 4), G, ["reshape", sh(2, 3), sh(-1, 4)]),
    ("reshape-str", lambda: X.reshape("abc"), G, ["reshape", r"abc"]),
    ("reshape-none", lambda: tr.reshape(X, None), G, ["reshape", r"None"]),
    ("broadcast_to-impossible", lambda: X.broadcast_to((3, 3)), G, ["broadcast_to", sh(2, 3), sh(3, 3)]),
    ("broadcast_to-fewer-dims", lambda: X.broadcast_to((3,)), G, ["broadcast_to", sh(2, 3), sh(3)]),
    ("broadcast_to-negative", lambda: tr.broadcast_to(X, (-2, 3)), G, ["broadcast_to", r"-2"]),
    ("transpose-repeated", lambda: X.transpose(0, 0), G, ["transpose", r"0, 0"]),
    ("transpose-length", lambda: X.transpose((1, 0, 2)), G, ["transpose", r"1, 0, 2"]),
    ("transpose-out-of-range", lambda: X.transpose(0, 5), G, ["transpose", r"\b5\b"]),
    ("transpose-float", lambda: X.transpose(0.5, 1), G, ["transpose", r"0\.5"]),
    ("swapaxes-out-of-range", lambda: tr.swapaxes(X, 0, 2), G, ["swapaxes", r"\b2\b"]),
    ("getitem-out-of-range", lambda: X[5], G, [r"getitem|index", r"\b5\b", r"size 2"]),
    ("getitem-out-of-range-axis1", lambda: X[0, 3], G, [r"getitem|index", r"\b3\b", r"size 3"]),
    ("getitem-negative-out-of-range", lambda: X[-3], G, [r"getitem|index", r"-3", r"size 2"]),
    ("getitem-float", lambda: X[1.5], G, [r"getitem|index", r"float|1\.5"]),
    ("getitem-list", lambda: X[[0, 1]], G, [r"getitem|index", r"list"]),
    ("getitem-array", lambda: X[np.array([0, 1])], G, [r"getitem|index", r"ndarray|array"]),
    ("getitem-bool", lambda: X[True], G, [r"getitem|index", r"bool|True"]),
    ("getitem-str", lambda: X["a"], G, [r"getitem|index", r"str|'a'"]),
    ("getitem-too-many", lambda: X[0, 0, 0], G, [r"getitem|index", r"too many|3 ind", sh(2, 3)]),
    ("getitem-two-ellipses", lambda: X[..., ...], G, [r"getitem|index", r"\.\.\.|Ellipsis"]),
    ("getitem-slice-step-zero", lambda: X[::0], G, [r"getitem|index|slice", r"step", r"\b0\b"]),
    ("getitem-float-slice", lambda: X[0:1.5], G, [r"getitem|index|slice", r"1\.5"]),

    # ---- matmul, dot, where
    ("matmul-inner", lambda: X @ X, G, ["matmul", sh(2, 3), r"3 != 2|inner"]),
    ("matmul-0d", lambda: X @ tr.tensor(2.0), G, ["matmul", sh(), r"dimension"]),
    ("matmul-dtypes", lambda: X @ tr.placeholder((3, 2), np.float32), G, ["matmul", "float64", "float32"]),
    ("matmul-int-float", lambda: XI @ tr.placeholder((3, 2)), G, ["matmul", INTDT, "float64"]),
    ("matmul-batch", lambda: B3 @ tr.placeholder((3, 3, 4)), G, ["matmul", sh(2, 2, 3), sh(3, 3, 4)]),
    ("matmul-vectors", lambda: V @ tr.placeholder((4,)), G, ["matmul", sh(3), sh(4)]),
    ("matmul-none", lambda: X @ None, G, ["matmul", r"None"]),
    ("matmul-ragged", lambda: X @ [[1.0], [2.0, 3.0], [4.0]], G, ["matmul", RAGGED]),
    ("matmul-complex", lambda: X @ np.ones((3, 2), complex), G, ["matmul", COMPLEX]),
    ("dot-shapes", lambda: tr.dot(X, V), G, [r"\bdot\b", sh(2, 3), sh(3)]),
    ("where-float-condition", lambda: tr.where(X, X, X), G, ["where", r"bool", "float64"]),
    ("where-int-condition", lambda: tr.where(np.array([1, 0, 1]), V, V), G, ["where", r"bool", INTDT]),
    ("where-none-condition", lambda: tr.where(None, V, V), G, ["where", r"None"]),
    ("where-broadcast", lambda: tr.where(V > 0, X, tr.placeholder((4,))), G, ["where", r"broadcast", sh(4)]),
    ("where-dtypes", lambda: tr.where(V > 0, X, X32), G, ["where", "float64", "float32"]),
    ("where-int-and-half", lambda: tr.where(INT > 2, INT, 0.5), G, ["where", r"0\.5", INTDT]),

    # ---- one_hot and the losses
    ("one_hot-float-targets", lambda: tr.one_hot(np.array([0.0, 1.0]), 3), G, ["one_hot", "float64", r"int"]),
    ("one_hot-out-of-range", lambda: tr.one_hot(np.array([0, 3]), 3), G, ["one_hot", r"\b3\b", r"\[0, 3\)"]),
    ("one_hot-negative-target", lambda: tr.one_hot(np.array([-1, 0]), 3), G, ["one_hot", r"-1"]),
    ("one_hot-zero-classes", lambda: tr.one_hot(np.array([0, 1]), 0),
     G, ["one_hot", r"num_classes", r"\b0\b"]),
    ("one_hot-negative-classes", lambda: tr.one_hot(np.array([0, 1]), -2),
     G, ["one_hot", r"num_classes", r"-2"]),
    ("one_hot-float-classes", lambda: tr.one_hot(np.array([0, 1]), 2.5),
     G, ["one_hot", r"num_classes", r"2\.5"]),
    ("cross_entropy-out-of-range", lambda: tr.cross_entropy(X, np.array([0, 3])), G,
     ["cross_entropy", r"\[0, 3\)", r"\b3\b"]),
    ("cross_entropy-negative", lambda: tr.cross_entropy(X, np.array([-1, 0])), G, ["cross_entropy", r"-1"]),
    ("cross_entropy-float-targets", lambda: tr.cross_entropy(X, np.array([0.0, 1.0])), G,
     ["cross_entropy", r"int", "float64"]),
    ("cross_entropy-float-tensor-targets", lambda: tr.cross_entropy(X, tr.placeholder((2,))), G,
     ["cross_entropy", r"int", "float64"]),
    ("cross_entropy-target-shape", lambda: tr.cross_entropy(X, np.array([0, 1, 2])), G,
     ["cross_entropy", sh(2), sh(3)]),
    ("cross_entropy-3d-logits", lambda: tr.cross_entropy(B3, np.array([0, 1])), G,
     ["cross_entropy", sh(2, 2, 3)]),
    ("cross_entropy-int-logits", lambda: tr.cross_entropy(INT, np.array([0, 1])), G,
     ["cross_entropy", INTDT, FLOAT]),
    ("cross_entropy-none-targets", lambda: tr.cross_entropy(X, None), G, ["cross_entropy", r"None"]),
    ("mse-shapes", lambda: tr.mse(X, V), G, [r"\bmse", sh(2, 3), sh(3)]),
    ("mse-dtypes", lambda: tr.mse(X, X32), G, [r"\bmse", "float64", "float32"]),
    ("mse-int", lambda: tr.mse(INT, INT), G, [r"\bmse", INTDT, FLOAT]),
    ("mse-none-target", lambda: tr.mse(X, None), G, [r"\bmse", r"None"]),
    ("mse_loss-shapes", lambda: tr.mse_loss(X, np.ones((3, 2))), G, [r"\bmse", sh(2, 3), sh(3, 2)]),
    ("bce-shapes", lambda: tr.binary_cross_entropy_with_logits(X, V), G,
     ["binary_cross_entropy_with_logits", sh(2, 3), sh(3)]),
    ("bce-reduction", lambda: tr.binary_cross_entropy_with_logits(X, X, reduction="avg"), G,
     ["binary_cross_entropy_with_logits", r"reduction", r"avg"]),
    ("bce-int-logits", lambda: tr.binary_cross_entropy_with_logits(INT, INT), G,
     ["binary_cross_entropy_with_logits", INTDT, FLOAT]),

    # ---- tr.function: building, then calling
    ("function-input-parameter", lambda: tr.function([W], [W.sum()]),
     G, ["function", "placeholder", "parameter"]),
    ("function-input-computed", lambda: tr.function([X * 2], [X.sum()]),
     G, ["function", "placeholder", r"\bmul"]),
    ("function-input-array", lambda: tr.function([np.ones(3)], [X.sum()]), G, ["function", r"ndarray|array"]),
    ("function-inputs-not-list", lambda: tr.function(X, [X.sum()]), G, ["function", r"list", r"Tensor"]),
    ("function-outputs-not-list", lambda: tr.function([X], X.sum()), G, ["function", r"list", r"Tensor"]),
    ("function-output-array", lambda: tr.function([X], [np.ones(2)]), G, ["function", r"ndarray|array"]),
    ("function-same-placeholder-twice", lambda: tr.function([X, X], [X.sum()]), G,
     ["function", r"same placeholder", r"\b0\b", r"\b1\b"]),
    ("function-unfed-placeholder", lambda: tr.function([X], [X.sum() + tr.placeholder((3,), name="y").sum()]),
     G, ["function", r"placeholder 'y'", r"not among the inputs"]),
    ("function-bad-backend", lambda: tr.function([X], [X.sum()], backend="cuda"), ValueError,
     ["function", r"backend", r"cuda", r"numba"]),
    ("call-no-args", lambda: _compiled(tr.placeholder((2, 3), name="x"))(), TypeError,
     [r"function", r"1 input", r"got 0"]),
    ("call-too-many-args", lambda: _compiled(tr.placeholder((2, 3)))(np.ones((2, 3)), np.ones(3)), TypeError,
     [r"function", r"1 input", r"got 2"]),
    ("call-wrong-shape", lambda: _compiled(tr.placeholder((2, 3), name="x"))(np.ones((3, 2))), G,
     ["function", r"input 0", r"'x'", sh(2, 3), sh(3, 2)]),
    ("call-float-into-int", lambda: _compiled(tr.placeholder((2,), np.int64))(np.array([0.5, 1.5])), G,
     ["function", r"input 0", INTDT, "float64"]),
    ("call-complex", lambda: _compiled(tr.placeholder((2,)))(np.ones(2, complex)), G,
     ["function", r"input 0", "complex128"]),
    ("call-ragged", lambda: _compiled(tr.placeholder((2, 2)))([[1.0, 2.0], [3.0]]), G,
     ["function", r"input 0", RAGGED]),
    ("call-none", lambda: _compiled(tr.placeholder((2,)))(None), G, ["function", r"input 0", r"None"]),
    ("call-str", lambda: _compiled(tr.placeholder((2,)))("ab"), G, ["function", r"input 0", r"str|'ab'"]),
    ("numpy-unfed-placeholder", lambda: (tr.placeholder((2,), name="q") * 2).numpy(), G,
     [r"numpy", r"placeholder 'q'"]),
    ("numpy-bad-backend", lambda: (INT + 1).numpy(backend="cuda"), ValueError,
     [r"numpy\(\)", r"backend", r"cuda"]),

    # ---- grad / jvp / vjp
    ("grad-nonscalar-no-seed", lambda: tr.grad(X * 2, [X]), G, [r"\bgrad\b", sh(2, 3), r"seed"]),
    ("grad-seed-shape", lambda: tr.grad(X * 2, [X], seed=np.ones(3)),
     G, [r"\bgrad\b", r"seed", sh(3), sh(2, 3)]),
    ("grad-seed-complex", lambda: tr.grad(X * 2, [X], seed=np.ones((2, 3), complex)), G,
     [r"\bgrad\b", r"seed", COMPLEX]),
    ("grad-wrt-not-list", lambda: tr.grad(X.sum(), X), G, [r"\bgrad\b", r"wrt", r"list", r"Tensor"]),
    ("grad-wrt-str", lambda: tr.grad(X.sum(), "x"), G, [r"\bgrad\b", r"wrt", r"str"]),
    ("grad-wrt-array", lambda: tr.grad(X.sum(), [np.ones(3)]),
     G, [r"\bgrad\b", r"wrt\[0\]", r"ndarray|array"]),
    ("grad-y-not-tensor", lambda: tr.grad(3.0, [X]), G, [r"\bgrad\b", r"\by\b", r"float"]),
    ("grad-int-y", lambda: tr.grad(XI.sum(), [XI]), G, [r"\bgrad\b", INTDT, FLOAT]),
    ("jvp-tangent-count", lambda: tr.jvp([X.sum()], [X], []),
     G, [r"\bjvp\b", r"tangent", r"\b1\b", r"\b0\b"]),
    ("jvp-tangent-shape", lambda: tr.jvp([X.sum()], [X], [np.ones(3)]), G,
     [r"\bjvp\b", r"tangents\[0\]", sh(3), sh(2, 3)]),
    ("jvp-tangents-not-list", lambda: tr.jvp([X.sum()], [X], np.ones((2, 3))), G,
     [r"\bjvp\b", r"tangents", r"list", r"ndarray|array"]),
    ("jvp-tangent-none", lambda: tr.jvp([X.sum()], [X], [None]), G, [r"\bjvp\b", r"tangents\[0\]", r"None"]),
    ("jvp-ys-not-list", lambda: tr.jvp(X.sum(), [X], [np.ones((2, 3))]), G, [r"\bjvp\b", r"ys", r"list"]),
    ("vjp-cotangent-count", lambda: tr.vjp([X.sum()], [X], []),
     G, [r"\bvjp\b", r"cotangent", r"\b1\b", r"\b0\b"]),
    ("vjp-cotangent-shape", lambda: tr.vjp([X * 2], [X], [np.ones(3)]), G,
     [r"\bvjp\b", r"cotangents\[0\]", sh(3), sh(2, 3)]),
    ("vjp-cotangent-dtype", lambda: tr.vjp([X * 2], [X], [INT]), G, [r"\bvjp\b", r"cotangents\[0\]", INTDT]),
    ("vjp-wrt-not-list", lambda: tr.vjp([X.sum()], X, [1.0]), G, [r"\bvjp\b", r"wrt", r"list"]),

    # ---- tr.scan
    ("scan-step-not-pair", lambda: tr.scan(lambda h, x: h + x, H0, SEQ), G, ["scan", r"pair", r"Tensor"]),
    ("scan-step-triple", lambda: tr.scan(lambda h, x: (h, h, h), H0, SEQ), G, ["scan", r"pair", r"\b3\b"]),
    ("scan-carry-structure", lambda: tr.scan(lambda h, x: ((h, h), h), H0, SEQ),
     G, ["scan", r"carry", r"\b2\b"]),
    ("scan-carry-shape", lambda: tr.scan(lambda h, x: (tr.concat([h, x]), h), H0, SEQ), G,
     ["scan", r"carry", sh(4), sh(2)]),
    ("scan-carry-dtype", lambda: tr.scan(lambda h, x: (h.astype(np.float32), h), H0, SEQ), G,
     ["scan", r"carry", "float32", "float64"]),
    ("scan-xs-lengths", lambda: tr.scan(STEP2, H0, (SEQ, tr.placeholder((4, 2)))), G,
     ["scan", r"xs\[1\]", sh(4, 2), r"\b5\b"]),
    ("scan-xs-0d", lambda: tr.scan(STEP, H0, tr.tensor(1.0)), G, ["scan", r"xs", sh()]),
    ("scan-xs-empty", lambda: tr.scan(STEP, H0, tr.placeholder((0, 2))), G, ["scan", r"T=0|length"]),
    ("scan-length-mismatch", lambda: tr.scan(STEP, H0, SEQ, length=3), G, ["scan", r"\b3\b", r"\b5\b"]),
    ("scan-length-zero", lambda: tr.scan(lambda h, x: (h, None), H0, None, length=0),
     G, ["scan", r"length|T=0"]),
    ("scan-length-float", lambda: tr.scan(lambda h, x: (h, None), H0, None, length=2.5), G,
     ["scan", r"length", r"2\.5"]),
    ("scan-no-length", lambda: tr.scan(lambda h, x: (h, None), H0, None), G, ["scan", r"length"]),
    ("scan-truncate-0", lambda: tr.scan(STEP, H0, SEQ, truncate=0), G, ["scan", r"truncate", r"\b0\b"]),
    ("scan-truncate-true", lambda: tr.scan(STEP, H0, SEQ, truncate=True), G, ["scan", r"truncate", r"True"]),
    ("scan-truncate-float", lambda: tr.scan(STEP, H0, SEQ, truncate=2.5), G, ["scan", r"truncate", r"2\.5"]),
    ("scan-checkpoint-negative", lambda: tr.scan(STEP, H0, SEQ, checkpoint=-1),
     G, ["scan", r"checkpoint", r"-1"]),
    ("scan-checkpoint-true", lambda: tr.scan(STEP, H0, SEQ, checkpoint=True),
     G, ["scan", r"checkpoint", r"True"]),
    ("scan-checkpoint-and-truncate", lambda: tr.scan(STEP, H0, SEQ, checkpoint=2, truncate=2), G,
     ["scan", r"checkpoint", r"truncate"]),
    ("scan-step-not-callable", lambda: tr.scan(None, H0, SEQ), G, ["scan", r"step", r"callable", r"None"]),
    ("scan-init-str", lambda: tr.scan(STEP, "abc", SEQ), G, ["scan", r"init", r"str|'abc'"]),

    # ---- tr.unroll
    ("unroll-truncate-true", lambda: tr.unroll(RCELL, XS, truncate=True),
     G, ["unroll", r"truncate", r"True"]),
    ("unroll-truncate-0", lambda: tr.unroll(RCELL, XS, truncate=0), G, ["unroll", r"truncate", r"\b0\b"]),
    ("unroll-truncate-float", lambda: tr.unroll(RCELL, XS, truncate=1.5),
     G, ["unroll", r"truncate", r"1\.5"]),
    ("unroll-xs-rank1", lambda: tr.unroll(RCELL, np.ones(4)), G, ["unroll", sh(4)]),
    ("unroll-xs-rank2", lambda: tr.unroll(RCELL, np.ones((4, 2))), G, ["unroll", sh(4, 2)]),
    ("unroll-xs-empty", lambda: tr.unroll(RCELL, np.ones((0, 1, 2))), G, ["unroll", sh(0, 1, 2)]),
    ("unroll-input-size", lambda: tr.unroll(RCELL, np.ones((4, 1, 5))), G, ["unroll", r"\b5\b", r"\b2\b"]),
    ("unroll-state0-shape", lambda: tr.unroll(RCELL, XS, (np.zeros((1, 4)),)), G,
     ["unroll", r"state0|state", sh(1, 4), sh(1, 3)]),
    ("unroll-state0-count", lambda: tr.unroll(RCELL, XS, (np.zeros((1, 3)), np.zeros((1, 3)))), G,
     ["unroll", r"state0|state", r"\b1\b", r"\b2\b"]),
    ("unroll-state0-bare-array", lambda: tr.unroll(RCELL, XS, np.zeros((1, 3))), G,
     ["unroll", r"state0", r"tuple", r"ndarray|array"]),

    # ---- tr.learn.bptt / tr.learn.rtrl
    ("bptt-T0", lambda: tr.learn.bptt(RCELL, np.ones((0, 1, 2)), None, LOSS), G, [r"\bbptt\b", sh(0, 1, 2)]),
    ("bptt-rank2", lambda: tr.learn.bptt(RCELL, np.ones((4, 2)), None, LOSS), G, [r"\bbptt\b", sh(4, 2)]),
    ("bptt-input-size", lambda: tr.learn.bptt(RCELL, np.ones((4, 1, 5)), None, LOSS), G,
     [r"\bbptt\b", sh(4, 1, 5), r"\b2\b"]),
    ("bptt-state0-shape", lambda: tr.learn.bptt(RCELL, XS, (np.zeros((1, 4)),), LOSS), G,
     [r"\bbptt\b", r"state0", sh(1, 4), sh(1, 3)]),
    ("bptt-state0-count", lambda: tr.learn.bptt(LCELL, XS, (np.zeros((1, 3)),), LOSS), G,
     [r"\bbptt\b", r"state0", r"\b1\b", r"\b2\b"]),
    ("bptt-state0-bare-array", lambda: tr.learn.bptt(RCELL, XS, np.zeros((1, 3)), LOSS), G,
     [r"\bbptt\b", r"state0", r"tuple", r"ndarray"]),
    ("bptt-truncate-true", lambda: tr.learn.bptt(RCELL, XS, None, LOSS, truncate=True, backend="numpy"), G,
     [r"\bbptt\b", r"truncate", r"True"]),
    ("bptt-truncate-0", lambda: tr.learn.bptt(RCELL, XS, None, LOSS, truncate=0), G,
     [r"\bbptt\b", r"truncate", r"\b0\b"]),
    ("bptt-truncate-float", lambda: tr.learn.bptt(RCELL, XS, None, LOSS, truncate=2.5), G,
     [r"\bbptt\b", r"truncate", r"2\.5"]),
    ("bptt-loss-not-scalar", lambda: tr.learn.bptt(RCELL, XS, None, lambda t, y: y, backend="numpy"), G,
     [r"\bbptt\b", r"loss_fn", sh(1, 3), r"scalar"]),
    ("bptt-loss-float", lambda: tr.learn.bptt(RCELL, XS, None, lambda t, y: 1.0, backend="numpy"), G,
     [r"\bbptt\b", r"loss_fn", r"float"]),
    ("bptt-xs-ragged", lambda: tr.learn.bptt(RCELL, [[[1.0, 2.0]], [[1.0]]], None, LOSS), G,
     [r"\bbptt\b", RAGGED]),
    ("bptt-xs-complex", lambda: tr.learn.bptt(RCELL, XS * 1j, None, LOSS, backend="numpy"), G,
     [r"\bbptt\b", COMPLEX]),
    ("bptt-xs-str", lambda: tr.learn.bptt(RCELL, "abc", None, LOSS), G, [r"\bbptt\b", r"str|'abc'"]),
    ("rtrl-T0", lambda: tr.learn.rtrl(RCELL, np.ones((0, 1, 2)), None, LOSS), G, [r"\brtrl\b", sh(0, 1, 2)]),
    ("rtrl-rank2", lambda: tr.learn.rtrl(RCELL, np.ones((4, 2)), None, LOSS), G, [r"\brtrl\b", sh(4, 2)]),
    ("rtrl-input-size", lambda: tr.learn.rtrl(RCELL, np.ones((4, 1, 5)), None, LOSS), G,
     [r"\brtrl\b", sh(4, 1, 5), r"\b2\b"]),
    ("rtrl-state0-shape", lambda: tr.learn.rtrl(RCELL, XS, (np.zeros((1, 4)),), LOSS), G,
     [r"\brtrl\b", r"state0", sh(1, 4), sh(1, 3)]),
    ("rtrl-state0-count", lambda: tr.learn.rtrl(LCELL, XS, (np.zeros((1, 3)),), LOSS), G,
     [r"\brtrl\b", r"state0", r"\b1\b", r"\b2\b"]),
    ("rtrl-truncate", lambda: tr.learn.rtrl(RCELL, XS, None, LOSS, truncate=True), TypeError,
     [r"\brtrl\b", r"truncate"]),
    ("rtrl-loss-not-scalar", lambda: tr.learn.rtrl(RCELL, XS, None, lambda t, y: y, backend="numpy"), G,
     [r"\brtrl\b", r"loss_fn", sh(1, 3), r"scalar"]),
    ("rtrl-xs-complex", lambda: tr.learn.rtrl(RCELL, XS * 1j, None, LOSS, backend="numpy"), G,
     [r"\brtrl\b", COMPLEX]),

    ("online_bptt-h-0", lambda: tr.learn.online_bptt(RCELL, XS, None, LOSS, h=0),
     G, [r"online_bptt", r"\bh\b", r"\b0\b"]),
    ("online_bptt-h-prime", lambda: tr.learn.online_bptt(RCELL, XS, None, LOSS, h=2, h_prime=3), G,
     [r"online_bptt", r"h'|h_prime"]),
    ("online_rtrl-targets", lambda: tr.learn.online_rtrl(RCELL, XS, np.ones((4, 1, 5)), tr.optim.SGD(
        RCELL.parameters(), lr=0.1)), G, [r"online_rtrl", r"targets", sh(4, 1, 5), sh(4, 1, 3)]),
    ("online_truncated_bptt-h-0", lambda: tr.learn.online_truncated_bptt(
        RCELL, XS, np.ones((4, 1, 3)), tr.optim.SGD(RCELL.parameters(), lr=0.1), h=0),
     G, [r"online_truncated_bptt", r"\bh\b", r"\b0\b"]),
    ("error_flow-T0", lambda: tr.learn.error_flow(RCELL, np.ones((0, 1, 2)), LOSS),
     G, [r"error_flow", sh(0, 1, 2)]),

    # ---- nn layers and cells: calls
    ("LSTM-input-size", lambda: LSTM(np.ones((4, 1, 5))), G, [r"\bLSTM\b", sh(4, 1, 5), r"\b2\b"]),
    ("LSTM-input-dtype", lambda: LSTM(np.ones((4, 1, 2), np.float32)),
     G, [r"\bLSTM\b", "float64", "float32"]),
    ("LSTM-input-rank2", lambda: LSTM(np.ones((4, 2))), G, [r"\bLSTM\b", sh(4, 2)]),
    ("LSTM-state0-shape", lambda: LSTM(XS, (np.zeros((1, 1, 4)), np.zeros((1, 1, 3)))), G,
     [r"\bLSTM\b", sh(1, 1, 4), sh(1, 1, 3)]),
    ("LSTM-state0-single", lambda: LSTM(XS, np.zeros((1, 1, 3))), G, [r"\bLSTM\b", r"state0", r"\b2\b"]),
    ("GRU-state0-tuple", lambda: GRU(XS, (np.zeros((1, 1, 3)), np.zeros((1, 1, 3)))), G,
     [r"\bGRU\b", r"state0|initial state", r"tuple"]),
    ("GRU-input-size", lambda: GRU(np.ones((4, 1, 7))), G, [r"\bGRU\b", sh(4, 1, 7)]),
    ("RNN-input-complex", lambda: RNN(XS * 1j), G, [r"\bRNN\b", COMPLEX]),
    ("LSTM-truncate-0", lambda: LSTM(XS, truncate=0), G, [r"\bLSTM\b", r"truncate", r"\b0\b"]),
    ("LSTM-truncate-true", lambda: LSTM(XS, truncate=True), G, [r"\bLSTM\b", r"truncate", r"True"]),
    ("GRU-truncate-0", lambda: GRU(XS, truncate=0), G, [r"\bGRU\b", r"truncate", r"\b0\b"]),
    ("RNN-truncate-negative", lambda: RNN(XS, truncate=-3), G, [r"\bRNN\b", r"truncate", r"-3"]),
    ("LSTM-checkpoint-negative", lambda: LSTM(XS, checkpoint=-1), G, [r"\bLSTM\b", r"checkpoint", r"-1"]),
    ("LSTM-checkpoint-and-truncate", lambda: LSTM(XS, checkpoint=2, truncate=2), G,
     [r"\bLSTM\b", r"checkpoint", r"truncate"]),
    ("LSTMCell-input-size", lambda: LCELL(np.ones((1, 5)), LCELL.initial_state(1)), G,
     [r"\bLSTMCell\b", sh(1, 5), r"\b2\b"]),
    ("LSTMCell-input-dtype", lambda: LCELL(np.ones((1, 2), np.float32), LCELL.initial_state(1)), G,
     [r"\bLSTMCell\b", "float32", "float64"]),
    ("LSTMCell-state-bare-array", lambda: LCELL(np.ones((1, 2)), np.zeros((1, 3))), G,
     [r"\bLSTMCell\b", r"state", r"tuple", r"ndarray"]),
    ("LSTMCell-state-count", lambda: LCELL(np.ones((1, 2)), (np.zeros((1, 3)),)), G,
     [r"\bLSTMCell\b", r"state", r"\b2\b", r"\b1\b"]),
    ("GRUCell-state-shape", lambda: GCELL(np.ones((1, 2)), (np.zeros((1, 4)),)), G,
     [r"\bGRUCell\b", r"state", sh(1, 4), sh(1, 3)]),
    ("RNNCell-input-rank1", lambda: RCELL(np.ones(2), (np.zeros((1, 3)),)), G, [r"\bRNNCell\b", sh(2)]),
    ("Linear-input-size", lambda: tr.nn.Linear(3, 2, seed=0)(np.ones((4, 5))),
     G, [r"\bLinear\b", sh(4, 5), r"\b3\b"]),

    # ---- nn layers and cells: constructors
    ("LSTM-hidden-0", lambda: tr.nn.LSTM(2, 0), G, [r"\bLSTM\b", r"hidden_size", r"\b0\b"]),
    ("LSTM-hidden-negative", lambda: tr.nn.LSTM(2, -4), G, [r"\bLSTM\b", r"hidden_size", r"-4"]),
    ("LSTM-hidden-float", lambda: tr.nn.LSTM(2, 2.5), G, [r"\bLSTM\b", r"hidden_size", r"2\.5"]),
    ("GRU-hidden-0", lambda: tr.nn.GRU(2, 0), G, [r"\bGRU\b", r"hidden_size", r"\b0\b"]),
    ("RNN-input-negative", lambda: tr.nn.RNN(-1, 3), G, [r"\bRNN\b", r"input_size", r"-1"]),
    ("RNN-nonlinearity", lambda: tr.nn.RNN(2, 3, nonlinearity="sigmoid"),
     G, [r"\bRNN\b", r"nonlinearity", r"sigmoid"]),
    ("LSTM-num_layers-0", lambda: tr.nn.LSTM(2, 3, num_layers=0), G, [r"\bLSTM\b", r"num_layers", r"\b0\b"]),
    ("LSTM-dropout-1.5", lambda: tr.nn.LSTM(2, 3, dropout=1.5), G, [r"\bLSTM\b", r"dropout", r"1\.5"]),
    ("LSTM-dropout-str", lambda: tr.nn.LSTM(2, 3, dropout="a"), G, [r"\bLSTM\b", r"dropout", r"'a'"]),
    ("GRU-int-dtype", lambda: tr.nn.GRU(2, 3, dtype=np.int32), G, [r"\bGRU\b", r"dtype", "int32"]),
    ("LSTMCell-hidden-0", lambda: tr.nn.LSTMCell(2, 0), G, [r"\bLSTMCell\b", r"hidden_size", r"\b0\b"]),
    ("GRUCell-hidden-negative", lambda: tr.nn.GRUCell(2, -3), G, [r"\bGRUCell\b", r"hidden_size", r"-3"]),
    ("RNNCell-hidden-float", lambda: tr.nn.RNNCell(2, 2.5), G, [r"\bRNNCell\b", r"hidden_size", r"2\.5"]),
    ("LSTMCell-input-bool", lambda: tr.nn.LSTMCell(True, 3), G, [r"\bLSTMCell\b", r"input_size", r"True"]),
    ("Linear-in-float", lambda: tr.nn.Linear(2.5, 3), G, [r"\bLinear\b", r"in_features", r"2\.5"]),
    ("Linear-in-negative", lambda: tr.nn.Linear(-1, 3), G, [r"\bLinear\b", r"in_features", r"-1"]),
    ("Linear-out-float", lambda: tr.nn.Linear(3, 2.5), G, [r"\bLinear\b", r"out_features", r"2\.5"]),

    ("WilliamsZipserNet-n-0", lambda: tr.nn.WilliamsZipserNet(0, 2),
     ValueError, [r"WilliamsZipserNet", r"\bn\b", r"\b0\b"]),
    ("Seq2Seq-decoder-inputs", lambda: tr.nn.Seq2Seq(RCELL, tr.nn.RNNCell(2, 3), tr.nn.Linear(3, 2))(
        XS, np.ones((3, 1, 5))),
     G, [r"Seq2Seq", r"decoder_inputs", sh(3, 1, 5)]),
    ("Seq2Seq-state-mismatch", lambda: tr.nn.Seq2Seq(LCELL, RCELL, tr.nn.Linear(3, 2)),
     G, [r"Seq2Seq", r"state", sh(3), sh(3, 3)]),

    # ---- Module.load_state_dict, Tensor.assign, Tensor.value
    ("load_state_dict-missing", lambda: LCELL.load_state_dict({}), ValueError,
     [r"load_state_dict", r"missing", r"weight_ih"]),
    ("load_state_dict-extra", lambda: LCELL.load_state_dict(_state_dict_with("bogus", np.zeros(3))),
     ValueError,
     [r"load_state_dict", r"unexpected", r"bogus"]),
    ("load_state_dict-shape", lambda: LCELL.load_state_dict(_state_dict_with("weight_hh", np.zeros((3, 3)))),
     ValueError, [r"load_state_dict", r"weight_hh", sh(3, 3), sh(12, 3)]),
    ("load_state_dict-complex", lambda: LCELL.load_state_dict(_state_dict_with("bias_hh", np.ones(12) * 1j)),
     ValueError, [r"load_state_dict", r"bias_hh", COMPLEX]),
    ("load_state_dict-none-value", lambda: LCELL.load_state_dict(_state_dict_with("bias_ih", None)),
     ValueError, [r"load_state_dict", r"bias_ih", r"None"]),
    ("load_state_dict-not-dict", lambda: LCELL.load_state_dict([1, 2]), ValueError,
     [r"load_state_dict", r"dict", r"list"]),
    ("load_state_dict-none", lambda: LCELL.load_state_dict(None), ValueError,
     [r"load_state_dict", r"dict", r"None"]),
    ("layer-load_state_dict-cell-names", lambda: LSTM.load_state_dict(LCELL.state_dict()), ValueError,
     [r"load_state_dict", r"missing", r"weight_ih_l0"]),
    ("assign-shape", lambda: W.assign(np.ones(3)), G, [r"assign", sh(3), sh(2, 3), r"'w'"]),
    ("assign-complex", lambda: W.assign(np.ones((2, 3)) * 1j), G, [r"assign", COMPLEX]),
    ("assign-ragged", lambda: W.assign([[1.0, 2.0, 3.0], [4.0]]), G, [r"assign", RAGGED]),
    ("assign-none", lambda: W.assign(None), G, [r"assign", r"None"]),
    ("assign-str", lambda: W.assign("abc"), G, [r"assign", r"str|<U3|'abc'"]),
    ("assign-non-parameter", lambda: (tr.placeholder((2,)) * 2).assign(np.ones(2)), G,
     [r"assign", r"parameter", r"\bmul"]),
    ("assign-symbolic-with-placeholder", lambda: W.assign(tr.placeholder((2, 3), name="p") * 2), G,
     [r"assign", r"placeholder 'p'"]),
    ("value-non-parameter", lambda: (tr.placeholder((2,)) * 2).value, G, [r"value", r"parameter", r"\bmul"]),

    # ---- tr.save_params / tr.load_params
    ("load_params-npy", _load_npy, ValueError, [r"load_params", r"params\.npy", r"npz|save_params"]),
    ("load_params-missing-file", lambda: tr.load_params(path("missing.npz"), {"w": W}), FileNotFoundError,
     [r"load_params", r"missing\.npz"]),
    ("load_params-truncated", _load_truncated, ValueError, [r"load_params", r"truncated\.npz"]),
    ("load_params-text", _load_text, ValueError, [r"load_params", r"notes\.txt", r"\.npz|save_params|zip"]),
    ("load_params-foreign-npz", _load_foreign_npz, ValueError, [r"load_params", r"save_params|marker"]),
    ("load_params-wrong-keys", _load_wrong_keys, ValueError, [r"load_params", r"missing", r"'w'", r"'v'"]),
    ("load_params-wrong-shape", _load_wrong_shape, ValueError, [r"load_params", sh(3, 2), sh(2, 3)]),
    ("load_params-directory", lambda: tr.load_params(TMP, {"w": W}),
     ValueError, [r"load_params", r"director"]),
    ("load_params-path-none", lambda: tr.load_params(None, {"w": W}),
     TypeError, [r"load_params", r"path", r"None"]),
    ("load_params-params-list", lambda: tr.load_params(path("x.npz"), [W]),
     G, [r"load_params", r"params", r"list"]),
    ("save_params-params-empty", lambda: tr.save_params(path("e.npz"), {}),
     G, [r"save_params", r"params", r"empty|dict"]),
    ("save_params-non-parameter", lambda: tr.save_params(path("n.npz"), {"x": X}), G,
     [r"save_params", r"parameter", r"'x'|placeholder"]),
    ("save_params-path-none", lambda: tr.save_params(None, {"w": W}),
     TypeError, [r"save_params", r"path", r"None"]),

    # ---- optimizers and training
    ("SGD-lr-0", lambda: tr.optim.SGD([_fresh_param()], lr=0), ValueError, [r"\bSGD\b", r"\blr\b", r"\b0\b"]),
    ("SGD-lr-negative", lambda: tr.optim.SGD([_fresh_param()], lr=-0.1),
     ValueError, [r"\bSGD\b", r"\blr\b", r"-0\.1"]),
    ("SGD-lr-str", lambda: tr.optim.SGD([_fresh_param()], lr="fast"),
     ValueError, [r"\bSGD\b", r"\blr\b", r"fast"]),
    ("SGD-lr-nan", lambda: tr.optim.SGD([_fresh_param()], lr=math.nan),
     ValueError, [r"\bSGD\b", r"\blr\b", r"nan"]),
    ("SGD-lr-none", lambda: tr.optim.SGD([_fresh_param()], lr=None),
     ValueError, [r"\bSGD\b", r"\blr\b", r"None"]),
    ("SGD-momentum-negative", lambda: tr.optim.SGD([_fresh_param()], lr=0.1, momentum=-1), ValueError,
     [r"\bSGD\b", r"momentum", r"-1"]),
    ("SGD-single-tensor", lambda: tr.optim.SGD(_fresh_param(), lr=0.1),
     ValueError, [r"\bSGD\b", r"params", r"list"]),
    ("SGD-empty-params", lambda: tr.optim.SGD([], lr=0.1), ValueError, [r"\bSGD\b", r"params", r"empty"]),
    ("SGD-non-parameter", lambda: tr.optim.SGD([X], lr=0.1),
     ValueError, [r"\bSGD\b", r"parameter", r"placeholder"]),
    ("Adam-lr-inf", lambda: tr.optim.Adam([_fresh_param()], lr=math.inf),
     ValueError, [r"\bAdam\b", r"\blr\b", r"inf"]),
    ("Adam-beta-1", lambda: tr.optim.Adam([_fresh_param()], betas=(1.0, 0.9)),
     ValueError, [r"\bAdam\b", r"betas"]),
    ("Adam-betas-str", lambda: tr.optim.Adam([_fresh_param()], betas="x"),
     ValueError, [r"\bAdam\b", r"betas", r"'x'"]),
    ("Adam-eps-0", lambda: tr.optim.Adam([_fresh_param()], eps=0),
     ValueError, [r"\bAdam\b", r"eps", r"\b0\b"]),
    ("step-wrong-key", lambda: tr.optim.SGD({"w": _fresh_param()}, lr=0.1).step({"v": np.zeros((2, 3))}),
     ValueError, [r"SGD\.step", r"missing", r"'w'", r"'v'"]),
    ("step-wrong-shape", lambda: tr.optim.Adam({"w": _fresh_param()}).step({"w": np.zeros(3)}), ValueError,
     [r"Adam\.step", r"'w'", sh(3), sh(2, 3)]),
    ("step-complex", lambda: tr.optim.SGD([_fresh_param()], lr=0.1).step([np.ones((2, 3)) * 1j]), ValueError,
     [r"SGD\.step", COMPLEX]),
    ("step-list-for-dict", lambda: tr.optim.SGD({"w": _fresh_param()}, lr=0.1).step([np.zeros((2, 3))]),
     ValueError, [r"SGD\.step", r"dict", r"list"]),
    ("step-symbolic", lambda: tr.optim.SGD([_fresh_param()], lr=0.1).step([X * 2]), ValueError,
     [r"SGD\.step", r"symbolic|Tensor"]),
    ("step-ragged", lambda: tr.optim.SGD([_fresh_param()], lr=0.1).step([[[1.0, 2.0, 3.0], [4.0]]]),
     ValueError,
     [r"SGD\.step", RAGGED]),
    ("step-none", lambda: tr.optim.SGD({"w": _fresh_param()}, lr=0.1).step(None), ValueError,
     [r"SGD\.step", r"dict", r"None"]),
    ("clip_grad_norm-negative", lambda: tr.optim.clip_grad_norm({"w": np.ones(2)}, -1.0), ValueError,
     [r"clip_grad_norm", r"max_norm", r"-1"]),
    ("optimizer-load_state_dict-wrong-class", lambda: tr.optim.SGD([_fresh_param()], lr=0.1).load_state_dict(
        tr.optim.Adam([_fresh_param()]).state_dict()), ValueError, [r"load_state_dict", r"Adam", r"SGD"]),
    ("train_step-nonscalar-loss", lambda: tr.train_step([X], X * W, {"w": W}), G,
     [r"train_step", r"loss", r"scalar", sh(2, 3)]),
    ("train_step-params-list", lambda: tr.train_step([X], (X * W).sum(), [W]), G,
     [r"train_step", r"params", r"list"]),
    ("train_step-inputs-not-list", lambda: tr.train_step(X, (X * W).sum(), {"w": W}), G,
     [r"train_step", r"inputs", r"list"]),
    ("fit-steps-0", lambda: tr.fit(lambda: (0.0, {}), None, [], steps=0),
     ValueError, [r"\bfit\b", r"steps", r"\b0\b"]),

    # ---- Python protocol misuse
    ("bool-of-tensor", lambda: bool(X > 0), TypeError, [r"truth value", r"where"]),
    ("len-of-0d", lambda: len(tr.tensor(1.0)), TypeError, [r"len", r"0-d"]),
]


def _span(fn):
    """First and last source line of ``fn`` and every function nested in it."""
    lines = set()

    def walk(code):
        lines.add(code.co_firstlineno)
        lines.update(line for _, _, line in code.co_lines() if line is not None)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                walk(const)

    walk(fn.__code__)
    return min(lines), max(lines)


def _raised_at(e):
    """file:line and function where ``e`` was raised (the innermost frame)."""
    frame = traceback.extract_tb(e.__traceback__)[-1]
    return f"{os.path.relpath(frame.filename)}:{frame.lineno} in {frame.name}"


@pytest.mark.parametrize("fn, exc, patterns", [pytest.param(f, e, p, id=i) for i, f, e, p in ROWS])
def test_bad_input(fn, exc, patterns):
    # failures are reported as one short paragraph (pytrace=False): a table of rows is easier
    # to read that way, and it keeps the module fast while rows fail
    with warnings.catch_warnings():
        # complex input must be refused, not cast with a ComplexWarning
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        try:
            fn()
        except Exception as e:  # noqa: BLE001
            error = e
        else:
            pytest.fail(f"DID NOT RAISE {exc.__name__}", pytrace=False)
    message = str(error)
    if not isinstance(error, exc):
        pytest.fail(f"expected {exc.__name__}, got {type(error).__name__} raised at "
                    f"{_raised_at(error)}:\n{message}", pytrace=False)
    text = re.sub(HERE + r":\d+", "<here>", message)
    missing = [p for p in patterns if not re.search(p, text, re.IGNORECASE)]
    if missing:
        pytest.fail(f"the message lacks {missing}:\n{type(error).__name__}: {message}",
                    pytrace=False)
    if exc is G:
        first, last = _span(fn)
        cited = [int(n) for n in re.findall(HERE + r":(\d+)", message)]
        if not any(first <= n <= last for n in cited):
            pytest.fail(f"the message should point at {__file__}:{first}"
                        f"{'-' + str(last) if last != first else ''} (the user's line), it cites "
                        f"{cited or 'no line of this file'}:\n{message}", pytrace=False)


def test_the_table():
    ids = [row[0] for row in ROWS]
    assert len(ROWS) >= 130
    assert len(set(ids)) == len(ids), sorted(i for i in ids if ids.count(i) > 1)
    for id_, fn, exc, patterns in ROWS:
        assert callable(fn) and isinstance(patterns, list) and patterns, id_
        assert issubclass(exc, (ValueError, TypeError, OSError)), id_


# ---- good input that must keep working ------------------------------------------------------

def test_ones_and_zeros_take_an_int_shape():
    np.testing.assert_array_equal(tr.ones(2).numpy(), np.ones(2))
    assert tr.ones(2).shape == (2,) and tr.zeros(3).shape == (3,)
    assert tr.ones((2, 3)).shape == (2, 3) and tr.ones(()).shape == ()
    assert tr.ones(np.int64(2)).shape == (2,)


# ---- a failed call changes nothing ------------------------------------------------------------

def test_failed_load_state_dict_changes_nothing():
    cell = tr.nn.LSTMCell(2, 3, seed=1)
    before = cell.state_dict()
    new = {k: v + 1.0 for k, v in before.items()}
    for key in ("bias_hh", "weight_ih"):  # the last and the first parameter, one at a time
        for bad in (np.zeros((5, 5)), np.ones(new[key].shape) * 1j):
            d = dict(new)
            d[key] = bad
            with warnings.catch_warnings():
                warnings.simplefilter("error", np.exceptions.ComplexWarning)
                with pytest.raises(ValueError):
                    cell.load_state_dict(d)
            after = cell.state_dict()
            for k in before:
                np.testing.assert_array_equal(after[k], before[k], err_msg=f"{k} after bad {key}")
    with pytest.raises(ValueError):
        cell.load_state_dict({**new, "extra": np.zeros(1)})
    for k, v in cell.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_failed_assign_changes_nothing():
    w = tr.parameter(np.arange(6.0).reshape(2, 3), name="w")
    y = (w * 2).sum()
    assert y.item() == 30.0
    for bad in (np.ones(3), np.ones((3, 2)), np.ones((2, 3)) * 1j, [[1.0, 2.0, 3.0], [4.0]], None, "abc"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            with pytest.raises((tr.GraphError, TypeError, ValueError)):
                w.assign(bad)
        np.testing.assert_array_equal(w.value, np.arange(6.0).reshape(2, 3))
    assert y.item() == 30.0  # nothing a compiled reader sees changed either


def test_failed_load_params_changes_nothing(tmp_path):
    a = tr.nn.GRUCell(2, 3, seed=0)
    b = tr.nn.GRUCell(2, 3, seed=1)
    before = b.state_dict()
    good = tr.save_params(tmp_path / "a.npz", a)
    # a file whose every key but the last (in b's order) is right, and the last the wrong shape
    values = {k: np.asarray(v) for k, v in a.state_dict().items()}
    last = list(values)[-1]
    values[last] = np.zeros(7)
    np.savez(tmp_path / "bad_shape.npz", **values, __tinygrad_rnn_params__=np.array(1))
    data = open(good, "rb").read()
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    np.save(tmp_path / "array.npy", np.zeros(3))
    for name in ("bad_shape.npz", "truncated.npz", "array.npy", "missing.npz"):
        with pytest.raises((ValueError, TypeError, OSError)):
            tr.load_params(tmp_path / name, b)
        for k, v in b.state_dict().items():
            np.testing.assert_array_equal(v, before[k], err_msg=f"{k} after loading {name}")
    tr.load_params(good, b)  # and a good file still loads
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v, a.state_dict()[k])


def test_failed_optimizer_step_changes_nothing():
    w, v = tr.parameter(np.ones(2), name="w"), tr.parameter(np.ones(3), name="v")
    opt = tr.optim.Adam({"w": w, "v": v}, lr=0.1)
    with pytest.raises(ValueError):
        opt.step({"w": np.ones(2), "v": np.ones(4)})
    np.testing.assert_array_equal(w.value, np.ones(2))
    np.testing.assert_array_equal(v.value, np.ones(3))
    assert opt.steps == 0
