"""tinygrad_rnn: a symbolic autodiff engine for recurrent graphs.

>>> import numpy as np, tinygrad_rnn as tr
>>> w = tr.parameter(np.zeros((4, 2)), name="w"); x = tr.placeholder((3, 4), name="x")
>>> y = tr.tanh(x @ w).sum(); (gw,) = tr.grad(y, [w])
>>> tr.function([x], [y, gw])(np.ones((3, 4)))
"""
from . import export, learn, nn, optim, teach, testing, training, viz  # noqa: F401
from .functions import (  # noqa: F401
    abs,
    add,
    as_tensor,
    astype,
    binary_cross_entropy_with_logits,
    broadcast_to,
    concat,
    concatenate,
    cross_entropy,
    div,
    divide,
    dot,
    equal,
    exp,
    full,
    getitem,
    greater,
    greater_equal,
    less,
    less_equal,
    log,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mse,
    mse_loss,
    mul,
    multiply,
    neg,
    negative,
    not_equal,
    one_hot,
    ones,
    ones_like,
    pow,
    power,
    relu,
    reshape,
    sigmoid,
    sign,
    softmax,
    softplus,
    split,
    sqrt,
    stack,
    stop_gradient,
    sub,
    subtract,
    sum,
    swapaxes,
    tanh,
    transpose,
    where,
    zeros,
    zeros_like,
)
from .graph.node import GraphError, scope  # noqa: F401
from .recurrence import scan, unroll  # noqa: F401
from .tensor import Tensor, parameter, placeholder, tensor  # noqa: F401
from .training import fit, load_params, save_params, train_step  # noqa: F401
from .transforms import function, grad, jvp, vjp  # noqa: F401

__version__ = "0.1.0"
