"""BPTT step by step: the forward pass (every named quantity of every step, in the order the
cell computes it, the blocks of a pre-activation vector labelled by gate), then the backward
pass (the error signal at each state and step, the gradient contribution of each step to
each weight, accumulating), and the cost of doing it.

With a loss that has targets (``tr.teach.target_loss``) each step with a target shows d(t),
e(t) = d(t) - y(t) and its loss. For Williams & Zipser's network the trace is in their
notation (seed 000): x(t) = [x_net(t) | 1 | y(t)] with its columns I and U, s(t) = W x(t),
y(t+1) = f(s(t)), J(t) = -1/2 sum_k e_k(t)^2 (the loss is L = -J), and the error signals
eps_k(t) = dJ/dy_k(t), delta_k(t) = dJ/ds_k(t) beside their recursions:

    eps_k(t+1) = e_k(t+1) + sum_l w_lk delta_l(t+1)     delta_k(t) = f'(s_k(t)) eps_k(t+1)
    dJ/dw_ij = sum_t delta_i(t) x_j(t)

The unrolled graph is built with one copy of every parameter per step (each step reads its
own placeholder holding the same value), so d loss / d copy_t IS the contribution of step
t, and the contributions add up to the gradient (the weight is shared: the gradient of a
shared weight is the sum over its uses).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph.traverse import rebuild, toposort
from ..learn.bptt import bptt
from ..learn.common import check_loss, check_sequence, check_state
from ..tensor import Tensor, placeholder, tensor
from ..transforms import function, grad
from . import notation
from .text import block, grouped_block, table_block

WZ_X = "x(t) = [x_net(t) | 1 | y(t)]"   # the forward key of W&Z's concatenated x(t)


@dataclass
class BPTTTrace:
    """Every quantity of one BPTT computation.

    forward[t]: dict name -> array (B, n) of step t, in the order the step computes them (x,
    each named gate/quantity of the cell, the new state components, y); losses[t]: float or
    None; deltas[t]: dict state name -> dL/d state(t) (B, n), the error signal arriving at the
    state produced at step t; contributions[t]: dict parameter name -> the part of the
    gradient that step t adds; accumulated[t]: dict name -> the sum of the contributions of
    steps t..T-1 (what the backward pass has accumulated after visiting step t); grads: name
    -> array, equal to ``tr.learn.bptt``'s; loss: the total loss.

    groups: forward name -> ((block name, size), ...), the labelled blocks of its entries (an
    LSTM's pre-activations i | f | g | o); param_labels: name -> (row labels, column labels);
    targets[t], masks[t]: d(t) and which entries have a target (None without targets);
    errors[t]: e(t) = -dL_t/dy(t) (B, out), the error the loss at step t puts on y(t) (= d(t)
    - y(t) for ``target_loss``), None without a loss at t; wz: Williams & Zipser's quantities
    when the cell is their net (see ``bptt_trace``), else None; cost: BPTT's cost counted on
    this net (``notation.bptt_cost``); cost_text: it in words.
    """
    cell_title: str
    state_names: tuple
    forward: list
    losses: list
    deltas: list
    contributions: list
    accumulated: list
    grads: dict
    loss: float
    groups: dict = None
    param_labels: dict = None
    targets: list = None
    masks: list = None
    errors: list = None
    wz: dict = None
    cost: dict = None
    cost_text: list = None

    def __str__(self) -> str:
        if self.wz is not None:
            return self._wz_text()
        T = len(self.forward)
        out = [f"BPTT through {T} steps of {self.cell_title}",
               f"loss L = Σ_t L_t = {self.loss:.6g}" + self._loss_words()]
        out += list(self.cost_text or []) + [""]
        out.append("== forward pass (t = 0 .. T-1): net inputs, gates, state, output, in the "
                   "order computed ==")
        for t, values in enumerate(self.forward):
            lt = "" if self.losses[t] is None else f"   L_{t} = {self.losses[t]:.6g}"
            out.append(f"-- step t={t}{lt}")
            for name, v in values.items():
                label = f"{name}({t})" if name in ("x", "y") or name in self.state_names else name
                out.append(grouped_block(label, v, (self.groups or {}).get(name)))
            missing = [k for k in dict.fromkeys(k for f in self.forward for k in f)
                       if k not in values]
            out.extend(f"  ({k}: not in step {t}'s graph, it acts on the zero initial state)"
                       for k in missing)
            out.extend(self._loss_lines(t, f"({t})", f"L_{t}"))
        names = ", ".join(f"δ{s}(t) = ∂L/∂{s}(t)" for s in self.state_names)
        out += ["", "== backward pass (t = T-1 .. 0) ==",
                f"{names}: the total derivative of L at the state made at step t;",
                "it arrives from the loss L_t (through y(t): ∂L_t/∂y(t) = -e(t)) and, through "
                "step t+1, from δ(t+1).",
                "Each step adds its own term to the gradient of every (shared) weight:"]
        for t in reversed(range(T)):
            out.append(f"-- step t={t}")
            if self.errors is not None and self.errors[t] is not None:
                out.append(block(f"∂L_{t}/∂y({t}) = -e({t})", -self.errors[t]))
            out.extend(block(f"δ{name}({t}) = ∂L/∂{name}({t})", v)
                       for name, v in self.deltas[t].items())
            for name, c in self.contributions[t].items():
                out.append(self._param_block(f"∂L/∂{name} from step {t}", name, c))
        out += ["", "== gradient = sum of the steps' contributions =="]
        out.extend(self._param_block(f"∂L/∂{name}", name, g) for name, g in self.grads.items())
        return "\n".join(out)

    def _loss_words(self) -> str:
        if self.targets is not None and any(d is not None for d in self.targets):
            return ",  L_t = 1/2 Σ_k e_k(t)^2,  e_k(t) = d_k(t) - y_k(t)"
        return ""

    def _param_block(self, label, name, a):
        rows, cols = (self.param_labels or {}).get(name, (None, None))
        if rows is None and cols is None:
            return block(label, a)
        a = np.asarray(a)
        if a.ndim == 1 and rows is not None:   # a bias: its gate blocks in one row
            return table_block(label, a[None], None, rows)
        return table_block(label, a, rows, cols)

    def _loss_lines(self, t, when, loss_name, j_name=None):
        """d, e and the loss of step t (``when``: "(t)" or W&Z's "(t+1)")."""
        if self.losses[t] is None:
            if self.targets is None:
                return []
            if j_name:
                return [f"  no target for y{when}: T{when} is empty, e{when} = 0, {j_name} = 0"]
            return [f"  no target for y{when}: no loss at this step"]
        lines = []
        d, mask = (self.targets[t], self.masks[t]) if self.targets is not None else (None, None)
        e = self.errors[t] if self.errors is not None else None
        if d is not None:
            shown = np.where(mask, d, np.nan)
            note = "" if mask.all() else "   (nan: no target, k not in T)"
            lines.append(block(f"target d{when}", shown) + note)
            lines.append(block(f"error e{when} = d{when} - y{when}", e))
            if j_name:
                lines.append(f"  {j_name} = -1/2 Σ_k e_k{when}^2 = {-self.losses[t]:.6g}"
                             f"   (the loss {loss_name} = -{j_name} = {self.losses[t]:.6g})")
            else:
                lines.append(f"  {loss_name} = 1/2 Σ_k e_k{when}^2 = {self.losses[t]:.6g}")
        else:   # the loss is in the step's heading; its error on y:
            if e is not None:
                lines.append(block(f"error e{when} = -∂{loss_name}/∂y{when}", e))
        return lines

    def _wz_text(self) -> str:
        wz, T = self.wz, len(self.forward)
        out = [f"BPTT through {T} steps of {self.cell_title} (Williams & Zipser's notation)",
               *wz["header"],
               "step t reads x(t), makes the net input s(t) = W x(t) and the output "
               "y(t+1) = f(s(t)), f logistic",
               "J = Σ_t J(t), J(t) = -1/2 Σ_k e_k(t)^2, e_k(t) = d_k(t) - y_k(t) for k in T(t) "
               "(else 0);",
               "the loss is L = -J = Σ_t 1/2 Σ_k e_k(t)^2 (W&Z ascend J, gradient descent on L "
               "is the same step)",
               f"L = {self.loss:.6g},  J = {-self.loss:.6g}"]
        out += list(self.cost_text or []) + [""]
        out.append("== forward pass (t = 0 .. T-1) ==")
        for t, values in enumerate(self.forward):
            out.append(f"-- step t={t}: s({t}) = W x({t}), y({t + 1}) = f(s({t}))")
            for name, v in values.items():
                if name in ("y",) or name in self.state_names:
                    continue   # the same numbers as "output y(t+1) = f(s(t))"
                label = {"x": f"x_net({t})"}.get(name, _at(name, t))
                out.append(grouped_block(label, v, (self.groups or {}).get(name)))
            out.extend(self._loss_lines(t, f"({t + 1})", f"L_{t}", f"J({t + 1})"))
        out += ["", "== backward pass (t = T-1 .. 0): the error signals ε and δ ==",
                "ε_k(t) = ∂J/∂y_k(t), δ_k(t) = ∂J/∂s_k(t), computed backward in time:",
                "  ε_k(t+1) = e_k(t+1) + Σ_l w_lk δ_l(t+1)   (k in U: the columns of W that read "
                "y; δ(T) = 0)",
                "  δ_k(t) = f'(s_k(t)) ε_k(t+1),   f'(s_k(t)) = y_k(t+1) (1 - y_k(t+1))",
                "  ∂J/∂w_ij = Σ_t δ_i(t) x_j(t)   (the gradient of the loss L = -J is its negative)"]
        for t in reversed(range(T)):
            a, b = t + 1, t + 2
            out.append(f"-- step t={t}")
            out.append(block(f"e({a})", wz["e"][t]))
            nxt = "(no step after the last)" if t == T - 1 else ""
            out.append(block(f"Σ_l w_lk δ_l({b})", wz["from_next"][t]) + f"   {nxt}".rstrip())
            out.append(block(f"ε({a}) = e({a}) + Σ_l w_lk δ_l({b})", wz["epsilon"][t]))
            out.append(block(f"f'(s({t})) = y({a}) (1 - y({a}))", wz["fprime"][t]))
            out.append(block(f"δ({t}) = f'(s({t})) ε({a})", wz["delta"][t]))
            out.append(self._param_block(f"∂J/∂W from step {t} = δ({t}) x({t})^T", "W",
                                         -self.contributions[t]["W"]))
        out += ["", "== gradient = sum of the steps' contributions =="]
        out.append(self._param_block("∂J/∂W = Σ_t δ(t) x(t)^T", "W", -self.grads["W"]))
        out.append(self._param_block("∂L/∂W = -∂J/∂W", "W", self.grads["W"]))
        return "\n".join(out)

    def _repr_html_(self) -> str:
        """The step-through page of this trace (``tr.teach.step_page``), shown inline by
        notebooks: forward t=0..T-1, then backward t=T-1..0."""
        from .page import _fragment
        return _fragment(self)[0]


def _at(name: str, t: int) -> str:
    """A W&Z scope name at step t: s(t) -> s(0), y(t+1) -> y(1)."""
    return name.replace("(t+1)", f"({t + 1})").replace("(t)", f"({t})")


def _named_values(order, before):
    """label -> node: the output of each name scope the step built (a gate's activation,
    a net input), in build order."""
    members: dict[str, list] = {}
    for n in order:
        if id(n) not in before and not n.op.leaf and n.scope:
            members.setdefault("/".join(n.scope), []).append(n)
    found = {}
    for label, nodes in members.items():
        inside = {id(i) for n in nodes for i in n.inputs}
        outputs = [n for n in nodes if id(n) not in inside]
        found[label] = outputs[-1]
    return found


def _computation_order(outputs, before) -> list:
    """The scope labels of one step in the order the step computes them: each after every
    label it depends on, and among those ready, the one whose first node was built first (so
    an LSTM reads pre-activations, i, f, g, o, c, tanh(c), h; with peepholes o comes after c,
    which it reads)."""
    order = toposort(outputs)
    label_of, first = {}, {}
    for n in order:
        if id(n) not in before and not n.op.leaf and n.scope:
            lab = "/".join(n.scope)
            label_of[id(n)] = lab
            first[lab] = min(first.get(lab, n.serial), n.serial)
    up, deps = {}, {lab: set() for lab in first}
    for n in order:  # the labels each node's value depends on (through unlabelled nodes)
        if id(n) in before:
            up[id(n)] = frozenset()
            continue
        s = set()
        for i in n.inputs:
            s |= up.get(id(i), frozenset())
        lab = label_of.get(id(n))
        if lab is not None:
            deps[lab] |= s - {lab}
            s.add(lab)
        up[id(n)] = frozenset(s)
    done, result = set(), []
    while len(result) < len(first):
        ready = [lab for lab in first if lab not in done and deps[lab] <= done]
        if not ready:  # a cycle between two scopes: the rest in build order
            ready = [lab for lab in first if lab not in done]
        pick = min(ready, key=first.get)
        done.add(pick)
        result.append(pick)
    return result


def bptt_trace(cell, xs, state0, loss_fn, backend: str = "numba") -> BPTTTrace:
    """Step-by-step BPTT of ``cell`` over ``xs`` (T, B, I); arguments as ``tr.learn.bptt``
    (state0 a tuple or None; loss_fn(t, y_t) -> scalar Tensor or None). Returns a
    ``BPTTTrace``; ``str(trace)`` is the walk-through.

    With ``loss_fn = tr.teach.target_loss(d, mask)`` the trace holds d(t) and e(t). For a
    ``tr.nn.WilliamsZipserNet`` ``trace.wz`` holds, per step t (the step that reads x(t) and
    makes y(t+1)): "x" x(t) (B, m+1+n), "s" s(t), "fprime" f'(s(t)), "e" e(t+1), "J" J(t+1)
    (None without a loss), "epsilon" eps(t+1) = dJ/dy(t+1) (= -deltas[t]["y"]), "delta"
    delta(t) = dJ/ds(t), "from_next" sum_l w_lk delta_l(t+1) (zeros at the last step); and
    "I", "U", "n", "m", "W".

        trace = tr.teach.bptt_trace(tr.nn.LSTMCell(1, 2), np.ones((3, 1, 1)), None,
                                    tr.teach.target_loss(np.zeros((3, 1, 2))))
    """
    xs = check_sequence(cell, xs)
    T, B = xs.shape[:2]
    state = check_state(cell, state0, B)
    params = cell.parameters()
    wz = notation.is_williams_zipser(cell)
    copies = [{k: placeholder(p.shape, p.dtype, name=f"{k}@{t}") for k, p in params.items()}
              for t in range(T)]
    swap = [{id(p.node): c[k].node for k, p in params.items()} for c in copies]
    records, losses, states, outputs, nets = [], [], [], [], []
    # id -> node: holding the nodes keeps their ids from being reused by nodes built later
    # (the initial state's are freed once folded away, and a new node with a recycled id
    # would be taken for a node of an earlier step)
    seen = {id(n): n for s in state for n in toposort([s.node])}
    for t in range(T):
        x = tensor(xs[t])
        y, new = cell(x, state)
        labels = _computation_order([y.node] + [s.node for s in new], seen)
        outs = rebuild([y.node] + [s.node for s in new], swap[t])
        x_vec = None
        if wz:  # W&Z's x(t) = [x_net(t), 1, y(t)]: what W multiplies (its columns I, U)
            x_vec = cell.x_vector(x, state[0])
        y, new = Tensor(outs[0]), tuple(Tensor(n) for n in outs[1:])
        order = toposort(outs)
        # the step's own nodes, rebuilt on its parameter copies: name them for the reader
        named = _named_values(order, seen)
        record = {"x": x}
        if x_vec is not None:
            record[WZ_X] = x_vec
        record.update({k: Tensor(named[k]) for k in labels if k in named})
        record.update({name: s for name, s in zip(cell.state_names, new)})
        record["y"] = y
        records.append(record)
        if wz:
            nets.append(next(v for k, v in record.items() if k.startswith("net input")))
        seen.update((id(n), n) for n in order)
        loss = loss_fn(t, y)
        losses.append(None if loss is None else check_loss(loss, t))
        states.append(new)
        outputs.append(y)
        state = new
    present = [ls for ls in losses if ls is not None]
    total = present[0] if present else None
    for ls in present[1:]:
        total = total + ls
    if total is None:
        raise ValueError("bptt_trace: loss_fn returned None at every step (nothing to learn)")
    total = total.reshape(())
    flat_states = [s for st in states for s in st]
    flat_copies = [c[k] for c in copies for k in params]
    g = grad(total, flat_states + flat_copies + nets)
    # e(t) = -dL_t/dy(t): what the loss at step t alone puts on the output
    g_y = [grad(ls.reshape(()), [outputs[t]])[0] for t, ls in enumerate(losses) if ls is not None]
    keys = [(t, k) for t in range(T) for k in records[t]]
    fwd = [records[t][k] for t, k in keys]
    shown = [ls for ls in losses if ls is not None]
    values = function(flat_copies, [total] + shown + g + g_y + fwd, backend)(
        *[params[k].numpy() for _ in range(T) for k in params])
    it = iter(values)
    loss_value = float(next(it))
    loss_values = [float(next(it)) if ls is not None else None for ls in losses]
    n_s = len(cell.state_names)
    delta_vals = [next(it) for _ in range(T * n_s)]
    contrib_vals = [next(it) for _ in range(T * len(params))]
    net_grads = [next(it) for _ in nets]
    errors = [None if ls is None else -next(it) for ls in losses]
    fwd_vals = [next(it) for _ in keys]
    forward = [dict() for _ in range(T)]
    for (t, k), v in zip(keys, fwd_vals):
        forward[t][k] = v
    deltas = [dict(zip(cell.state_names, delta_vals[t * n_s:(t + 1) * n_s])) for t in range(T)]
    contributions = [dict(zip(params, contrib_vals[t * len(params):(t + 1) * len(params)]))
                     for t in range(T)]
    accumulated, running = [None] * T, {k: np.zeros(p.shape, p.dtype) for k, p in params.items()}
    for t in reversed(range(T)):
        running = {k: running[k] + contributions[t][k] for k in params}
        accumulated[t] = running
    _, grads = bptt(cell, xs, state0, loss_fn, backend=backend)
    targets, masks = None, None
    if getattr(loss_fn, "targets", None) is not None:
        pairs = [notation.loss_targets(loss_fn, t) if losses[t] is not None else (None, None)
                 for t in range(T)]
        targets, masks = [p[0] for p in pairs], [p[1] for p in pairs]
    groups = {}
    for k, v in forward[-1].items():
        found = notation.column_groups(cell, k, np.shape(v)[-1])
        if found:
            groups[k] = tuple(found)
    # what BPTT keeps per step: every distinct value the step computed (not its input x)
    kept = {id(v.node): v.node.size // B for k, v in records[-1].items() if k != "x"}
    cost = notation.bptt_cost(cell, T, int(sum(kept.values())))
    wz_data = None
    if wz:
        W = params["W"].numpy()
        U = list(cell.U)
        delta = [-d for d in net_grads]                        # dJ/ds(t) = -dL/ds(t)
        from_next = [delta[t + 1] @ W[:, U] if t + 1 < T else np.zeros_like(delta[t])
                     for t in range(T)]
        ys = [forward[t]["y"] for t in range(T)]
        wz_data = {"n": cell.n, "m": cell.m, "I": tuple(cell.I), "U": tuple(cell.U), "W": W,
                   "index_sets": notation.wz_index_sets(cell), "header": notation.wz_header(cell),
                   "x": [forward[t][WZ_X] for t in range(T)],
                   "s": [next(v for k, v in forward[t].items() if k.startswith("net input"))
                         for t in range(T)],
                   "fprime": [y * (1 - y) for y in ys],
                   "e": [np.zeros_like(ys[t]) if errors[t] is None else errors[t]
                         for t in range(T)],
                   "J": [None if v is None else -v for v in loss_values],
                   "epsilon": [-deltas[t]["y"] for t in range(T)],
                   "delta": delta, "from_next": from_next}
    return BPTTTrace(getattr(cell, "title", type(cell).__name__), tuple(cell.state_names),
                     forward, loss_values, deltas, contributions, accumulated, grads,
                     loss_value, groups, notation.param_labels(cell), targets, masks, errors,
                     wz_data, cost, notation.bptt_cost_text(cell, cost))

