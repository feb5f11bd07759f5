"""Step-by-step traces of BPTT and RTRL, as data (for notebooks) and as text (``str()``), in
the seeds' notation (Williams & Zipser's d, e, J, eps, delta, p^k_ij; Goodfellow's output
layer o = c + V h, softmax, cross-entropy).

    loss_fn = tr.teach.target_loss(d, mask)   # L_t = 1/2 sum_k (d_k - y_k)^2: shows d, e
    trace = tr.teach.bptt_trace(cell, xs, None, loss_fn); print(trace); trace.grads
    trace = tr.teach.rtrl_trace(net, xs, None, loss_fn)   # p^k_ij(t) for a Williams-Zipser net
    print(tr.teach.output_layer_trace(h, V, c, y))         # o, softmax, grad_o = y_hat - 1_y
    print(tr.teach.error_flow_paths(tr.nn.RNNCell(1, 3), xs, q=3))   # seed 003's path sum
    tr.teach.write_step_page("steps.html", trace, rtrl)   # Next / Previous in a browser
"""
from .bptt import BPTTTrace, bptt_trace  # noqa: F401
from .error_flow import ErrorFlowPaths, error_flow_paths  # noqa: F401
from .notation import target_loss  # noqa: F401
from .output import OutputLayerTrace, output_layer_trace  # noqa: F401
from .page import step_page, step_page_for, write_step_page  # noqa: F401
from .rtrl import RTRLTrace, rtrl_trace  # noqa: F401
