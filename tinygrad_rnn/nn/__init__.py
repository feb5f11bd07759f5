"""Recurrent cells and layers as compositions of primitives."""
from . import schedules  # noqa: F401
from .cells import Cell, GRUCell, LSTMCell, RNNCell, SCRNCell  # noqa: F401
from .jordan import JordanRNN  # noqa: F401
from .layers import GRU, LSTM, RNN  # noqa: F401
from .linear import Linear  # noqa: F401
from .lstm1997 import LSTM1997Cell  # noqa: F401
from .module import Module  # noqa: F401
from .seq2seq import Seq2Seq, argmax_one_hot  # noqa: F401
from .williams_zipser import WilliamsZipserNet, wz_loss_fn  # noqa: F401
