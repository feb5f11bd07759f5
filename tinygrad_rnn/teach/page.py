"""A step-through page: one self-contained HTML file (inline SVG, a little plain JavaScript,
nothing fetched from the network) where Next / Previous walk a small unrolled cell forward
step by step, then BPTT backward, and, in RTRL mode, forward again carrying the
sensitivities, ending with both gradients and the largest difference between them.

    page = tr.teach.step_page(tr.teach.bptt_trace(cell, xs, None, loss_fn),
                              tr.teach.rtrl_trace(cell, xs, None, loss_fn))
    tr.teach.write_step_page("steps.html", bptt, rtrl)   # or in a notebook: just `bptt`

Every number on the page is read from the traces, formatted once, here, with 6 significant
digits; the page carries them as one JSON blob that the script renders. The picture is drawn
here as plain SVG (no Graphviz): one column per step, one row per quantity.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np

DIGITS = 6          # significant digits of every number on the page
_SHORT = 29         # characters a node's value line holds (it is 204 px wide)
_COL_W, _NODE_W, _NODE_H, _ROW_H = 232, 204, 40, 54
_LEFT, _INIT_W = 16, 120


def fmt(v) -> str:
    """One number as the page shows it: 6 significant digits (``format(v, ".6g")``)."""
    return format(float(v), f".{DIGITS}g")


def _rows(a) -> list:
    """An array as a list of rows of formatted numbers: a scalar or (n,) is one row, a (1, n)
    batch of one is one row, (B, n) is B rows, higher ranks keep their last axis."""
    a = np.asarray(a, np.float64)
    if a.ndim == 0:
        return [[fmt(a)]]
    if a.ndim == 1:
        return [[fmt(v) for v in a]]
    a = a.reshape(-1, a.shape[-1])
    return [[fmt(v) for v in r] for r in a]


def _short(a, prefix: str = "") -> str:
    """A node's value line: ``prefix`` and the first entries (row-major) that fit in
    ``_SHORT`` characters, then "…"; one entry without brackets."""
    flat = [fmt(v) for v in np.asarray(a, np.float64).ravel()]
    if len(flat) == 1:
        return prefix + flat[0]
    for k in range(len(flat), 0, -1):
        text = f"{prefix}[{', '.join(flat[:k])}{', …' if k < len(flat) else ''}]"
        if len(text) <= _SHORT or k == 1:
            return text
    return prefix + "[]"


def _block(key: str, title: str, a, row_labels=None, col_labels=None) -> dict:
    return {"key": key, "title": title, "rows": _rows(a), "row_labels": row_labels,
            "col_labels": col_labels}


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "q"


def _entry_labels(name: str, shape) -> list:
    return [f"{name}[{','.join(map(str, i))}]" for i in np.ndindex(*shape)]


def _max_difference(grads_a: dict, grads_b: dict):
    """(largest |a - b| entry, largest |a| entry) over all parameters."""
    diff = max(float(np.abs(np.asarray(grads_a[k]) - np.asarray(grads_b[k])).max())
               for k in grads_a)
    scale = max(float(np.abs(np.asarray(grads_a[k])).max()) for k in grads_a)
    return diff, scale


def _verdict(bptt_grads: dict, rtrl_grads: dict, rtol) -> dict:
    """The closing sentence, decided by the number it states."""
    diff, scale = _max_difference(bptt_grads, rtrl_grads)
    if rtol is None:
        dtypes = [np.asarray(g).dtype for g in list(bptt_grads.values()) + list(rtrl_grads.values())]
        rtol = 1e-10 if all(d == np.float64 for d in dtypes) else 1e-4
    agree = bool(diff <= rtol * max(scale, np.finfo(np.float64).tiny))
    head = (f"max |BPTT - RTRL| = {fmt(diff)} over all gradient entries "
            f"(largest gradient entry {fmt(scale)}): ")
    if agree:
        tail = f"the two gradients agree (to {rtol:g} of the largest entry)."
    else:
        tail = f"the two gradients differ (by more than {rtol:g} of the largest entry)."
    return {"max_difference": fmt(diff), "scale": fmt(scale), "rtol": rtol, "agree": agree,
            "sentence": head + tail}


class _Layout:
    """Where each node of the picture sits, and its id."""

    def __init__(self, T, quantities, state_names, has_y, losses, params, present=None):
        self.T, self.quantities, self.states = T, quantities, list(state_names)
        used, self.slug = set(), {}
        for name in dict.fromkeys(self.states + ["x", "y", "loss"] + list(quantities)):
            s, k = _slug(name), 2
            while s in used:
                s, k = f"{_slug(name)}-{k}", k + 1
            used.add(s)
            self.slug[name] = s
        self.rows = [q for q in quantities] + self.states + (["y"] if has_y else [])
        # a step may lack a quantity (an LSTM's forget gate at t=0 acts on a zero state)
        self.present = present or [set(self.rows)] * T
        self.losses = losses
        self.params = list(params)
        self.pslug = {}
        for p in self.params:
            s, k = _slug(p), 2
            while s in self.pslug.values():
                s, k = f"{_slug(p)}-{k}", k + 1
            self.pslug[p] = s

    def node_id(self, t, name):
        return f"node-f-{t}-{self.slug[name]}"

    def param_id(self, p):
        return f"node-p-{self.pslug[p]}"

    def column(self, t):
        """The ids of every node of step t."""
        ids = [self.node_id(t, r) for r in self.rows_at(t)]
        if self.losses[t] is not None:
            ids.append(self.node_id(t, "loss"))
        return ids

    def rows_at(self, t):
        return [r for r in self.rows if r in self.present[t]]

    def state_ids(self, t):
        return [self.node_id(t, s) for s in self.states]

    def param_ids(self):
        return [self.param_id(p) for p in self.params]


def _label(name: str, t: int, state_names) -> str:
    if name == "loss":
        return f"L_{t}"
    if name in ("x", "y") or name in state_names:
        return f"{name}({t})"
    return name


def _svg(lay: _Layout, param_shapes: dict) -> str:
    cols = max(lay.T, 1)
    width = _LEFT + _INIT_W + cols * _COL_W + _LEFT
    per_row = max(1, (width - 2 * _LEFT) // _COL_W)
    p_rows = -(-len(lay.params) // per_row) if lay.params else 0
    top = 34 + p_rows * _ROW_H + 30            # below the parameter row(s) and the step titles
    n_rows = len(lay.rows) + 1                 # + the loss row
    height = top + n_rows * _ROW_H + 10
    out = [f'<svg class="tgr-graph" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
           'aria-label="the unrolled graph, one column per step">',
           '<defs><marker id="tgr-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#777"/></marker>'
           '</defs>']

    def node(nid, x, y, label, kind, t, name, w=_NODE_W, tip=None):
        short = label if len(label) <= 30 else label[:29] + "…"
        out.append(f'<g class="node kind-{kind}" id="{nid}" data-t="{t}" '
                   f'data-name="{html.escape(name)}" data-kind="{kind}">'
                   f'<title>{html.escape(tip or label)}</title>'
                   f'<rect x="{x}" y="{y}" width="{w}" height="{_NODE_H}" rx="6"/>'
                   f'<text class="label" x="{x + 8}" y="{y + 15}">{html.escape(short)}</text>'
                   f'<text class="value" x="{x + 8}" y="{y + 31}"></text></g>')

    out.append(f'<text class="caption" x="{_LEFT}" y="20">parameters (one copy, shared by '
               'every step)</text>')
    for i, p in enumerate(lay.params):
        r, c = divmod(i, per_row)
        shape = "×".join(map(str, param_shapes[p])) or "scalar"
        node(lay.param_id(p), _LEFT + c * _COL_W, 30 + r * _ROW_H, f"{p} ({shape})", "param",
             "", p)
    x0 = _LEFT + _INIT_W
    for t in range(lay.T):
        cx = x0 + t * _COL_W
        out.append(f'<rect class="col" id="col-{t}" x="{cx - 10}" y="{top - 26}" '
                   f'width="{_COL_W - 8}" height="{n_rows * _ROW_H + 20}" rx="8"/>')
        out.append(f'<text class="caption" x="{cx}" y="{top - 8}">step t = {t}</text>')
    y_of = {r: top + i * _ROW_H for i, r in enumerate(lay.rows)}
    y_of["loss"] = top + len(lay.rows) * _ROW_H
    out.append(f'<text class="caption" x="{_LEFT}" y="{top - 8}">initial</text>')
    for s in lay.states:  # the state entering step 0; its value is not part of the traces
        node(f"node-init-{lay.slug[s]}", _LEFT, y_of[s], f"{s}(-1)", "init", -1, s,
             w=_INIT_W - 24, tip=f"{s}(-1): the initial state")
    for t in range(lay.T):
        cx = x0 + t * _COL_W
        for r in lay.rows:
            if r not in lay.present[t]:
                out.append(f'<text class="caption" x="{cx + 8}" y="{y_of[r] + 24}">'
                           f'(not in step {t}\'s graph)</text>')
        for r in lay.rows_at(t):
            kind = "x" if r == "x" else "state" if r in lay.states else \
                "y" if r == "y" else "quantity"
            node(lay.node_id(t, r), cx, y_of[r], _label(r, t, lay.states), kind, t, r,
                 tip=_label(r, t, lay.states) if kind != "quantity" else f"{r} (step {t})")
        if lay.losses[t] is not None:
            node(lay.node_id(t, "loss"), cx, y_of["loss"], f"L_{t}", "loss", t, "loss")
        for s in lay.states:  # the recurrence: state(t-1) -> state(t), a straight edge
            x1 = (_LEFT + _INIT_W - 24) if t == 0 else x0 + (t - 1) * _COL_W + _NODE_W
            y = y_of[s] + _NODE_H // 2
            out.append(f'<line class="edge" id="edge-{t}-{lay.slug[s]}" x1="{x1}" y1="{y}" '
                       f'x2="{cx - 2}" y2="{y}" marker-end="url(#tgr-arrow)"/>')
    out.append("</svg>")
    return "\n".join(out)


_CSS = """
.tgr-stepper { font-family: sans-serif; font-size: 14px; color: #222; }
.tgr-stepper .bar { display: flex; gap: 8px; align-items: center; margin: 6px 0 10px; flex-wrap: wrap; }
.tgr-stepper button { font-size: 14px; padding: 3px 10px; }
.tgr-stepper button[aria-pressed="true"] { background: #ffe9a8; border: 1px solid #d08000; }
.tgr-stepper #status { font-weight: bold; min-width: 10em; }
.tgr-stepper .wrap { display: flex; gap: 16px; align-items: flex-start; flex-wrap: wrap; }
.tgr-stepper .graph { overflow-x: auto; max-width: 100%; }
.tgr-stepper svg text { font-size: 12px; fill: #222; }
.tgr-stepper svg text.value { font-family: monospace; font-size: 11px; fill: #7a3d00; }
.tgr-stepper svg text.caption { font-size: 12px; fill: #666; }
.tgr-stepper .node rect { fill: #fff; stroke: #aaa; stroke-width: 1; }
.tgr-stepper .node.kind-param rect { fill: #f1f4fb; }
.tgr-stepper .node.kind-state rect { stroke: #557; }
.tgr-stepper .node.kind-init rect { fill: #f5f5f5; stroke-dasharray: 3 2; }
.tgr-stepper .node.active rect { fill: #ffe9a8; stroke: #d08000; stroke-width: 2.5; }
.tgr-stepper .col { fill: none; stroke: #e3e3e3; }
.tgr-stepper .col.current { fill: #fffaf0; stroke: #e0b060; }
.tgr-stepper .edge { stroke: #777; stroke-width: 1.5; }
.tgr-stepper #panel { flex: 1 1 320px; min-width: 300px; max-width: 720px; }
.tgr-stepper #panel p { margin: 4px 0 10px; max-width: 60em; }
.tgr-stepper .block { margin: 0 0 10px; }
.tgr-stepper .block .title { font-weight: bold; font-size: 13px; }
.tgr-stepper table { border-collapse: collapse; font-family: monospace; font-size: 12px; }
.tgr-stepper td, .tgr-stepper th { padding: 1px 8px; text-align: right; border-bottom: 1px solid #eee; }
.tgr-stepper th { color: #666; font-weight: normal; }
.tgr-stepper #verdict { font-weight: bold; }
.tgr-stepper #verdict.differ { color: #b00000; }
"""

# NOTE: the script finds its own root (document.currentScript) and looks ids up inside it,
# so that two pages shown in one notebook do not drive each other.
_JS = r"""
(function () {
  var me = document.currentScript;
  var root = me && me.closest ? me.closest('.tgr-stepper') : null;
  if (!root) { var all = document.querySelectorAll('.tgr-stepper'); root = all[all.length - 1]; }
  var data = JSON.parse(root.querySelector('script.tgr-data').textContent);
  function el(id) { return root.querySelector('[id="' + id + '"]'); }
  function esc(s) {
    return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;');
  }
  function table(b) {
    var h = '<table>';
    if (b.col_labels) {
      h += '<tr><th></th>' + b.col_labels.map(function (c) {
        return '<th>' + esc(c) + '</th>';
      }).join('') + '</tr>';
    }
    b.rows.forEach(function (row, i) {
      h += '<tr>' + (b.row_labels ? '<th>' + esc(b.row_labels[i]) + '</th>' : '');
      h += row.map(function (v) { return '<td class="num">' + esc(v) + '</td>'; }).join('') + '</tr>';
    });
    return h + '</table>';
  }
  var mode = data.start_mode, index = 0;
  function show() {
    var steps = data.modes[mode], s = steps[index];
    root.querySelectorAll('.node').forEach(function (n) {
      n.classList.remove('active');
      n.querySelector('.value').textContent = '';
    });
    root.querySelectorAll('.col').forEach(function (c) { c.classList.remove('current'); });
    s.active.forEach(function (id) { var n = el(id); if (n) n.classList.add('active'); });
    Object.keys(s.values).forEach(function (id) {
      var n = el(id); if (n) n.querySelector('.value').textContent = s.values[id];
    });
    if (s.t !== null) { var c = el('col-' + s.t); if (c) c.classList.add('current'); }
    el('status').textContent = s.status;
    el('counter').textContent =
      (mode === 'rtrl' ? 'RTRL' : 'BPTT') + ' step ' + (index + 1) + ' of ' + steps.length;
    var h = '<p class="note">' + esc(s.note) + '</p>';
    if (s.verdict) {
      h += '<p id="verdict" class="' + (data.comparison.agree ? 'agree' : 'differ') + '">' +
        esc(data.comparison.sentence) + '</p>';
    }
    s.blocks.forEach(function (b) {
      h += '<div class="block" data-key="' + esc(b.key) + '"><div class="title">' +
        esc(b.title) + '</div>' + table(b) + '</div>';
    });
    el('panel').innerHTML = h;
    el('prev').disabled = index === 0;
    el('next').disabled = index === steps.length - 1;
    el('mode-bptt').setAttribute('aria-pressed', mode === 'bptt');
    el('mode-rtrl').setAttribute('aria-pressed', mode === 'rtrl');
  }
  function go(d) {
    var n = index + d;
    if (n >= 0 && n < data.modes[mode].length) { index = n; show(); }
  }
  function setMode(m) { if (data.modes[m]) { mode = m; index = 0; show(); } }
  el('prev').addEventListener('click', function () { go(-1); });
  el('next').addEventListener('click', function () { go(1); });
  el('mode-bptt').addEventListener('click', function () { setMode('bptt'); });
  el('mode-rtrl').addEventListener('click', function () { setMode('rtrl'); });
  var keys = root.hasAttribute('data-standalone') ? document : root;
  keys.addEventListener('keydown', function (e) {
    if (e.key === 'ArrowRight' || e.key === 'ArrowDown') { go(1); e.preventDefault(); }
    if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') { go(-1); e.preventDefault(); }
  });
  show();
})();
"""


def _param_blocks(key, title, grads: dict) -> list:
    return [_block(f"{key} {k}", title.format(k=k), g) for k, g in grads.items()]


def _split(flat, shapes: dict) -> dict:
    out, off = {}, 0
    for k, shape in shapes.items():
        size = int(np.prod(shape, dtype=np.int64))
        out[k] = np.asarray(flat[off:off + size]).reshape(shape)
        off += size
    return out


def _bptt_steps(tr, lay: _Layout, verdict) -> list:
    T, steps = len(tr.forward), []
    for t in range(T):
        values = {lay.node_id(t, r): _short(tr.forward[t][r]) for r in lay.rows_at(t)}
        blocks = [_block(r, _label(r, t, lay.states), tr.forward[t][r]) for r in lay.rows_at(t)]
        if tr.losses[t] is not None:
            values[lay.node_id(t, "loss")] = _short(tr.losses[t])
            blocks.append(_block("loss", f"L_{t}", tr.losses[t]))
        prev = "the initial state" if t == 0 else f"the state of step {t - 1}"
        steps.append({"status": f"forward t={t}", "t": t, "active": lay.column(t),
                      "values": values, "blocks": blocks, "verdict": False,
                      "note": f"Forward, step {t}: from x({t}) and {prev}, the cell computes "
                              "every quantity of its column, top to bottom"
                              + (f", and the loss L_{t}." if tr.losses[t] is not None else ".")})
    for t in reversed(range(T)):
        values = {lay.node_id(t, s): _short(tr.deltas[t][s], "δ ") for s in lay.states}
        values.update({lay.param_id(p): _short(c, "+ ") for p, c in tr.contributions[t].items()})
        blocks = [_block(f"delta {s}", f"δ{s}({t}) = dL/d{s}({t})", tr.deltas[t][s])
                  for s in lay.states]
        blocks += _param_blocks("contribution", f"dL/d{{k}} from step {t}", tr.contributions[t])
        blocks += _param_blocks("accumulated", f"dL/d{{k}} accumulated over steps {t}..{T - 1}",
                                tr.accumulated[t])
        into = f"the loss L_{t}" if tr.losses[t] is not None else "no loss at this step"
        later = f" and, through step {t + 1}, from δ({t + 1})" if t < T - 1 else ""
        steps.append({"status": f"backward t={t}", "t": t,
                      "active": lay.state_ids(t) + lay.param_ids(), "values": values,
                      "blocks": blocks, "verdict": False,
                      "note": f"Backward, step {t}: the error signal δ({t}) at the state made at "
                              f"step {t} arrives from {into}{later}. Step {t} adds its own "
                              "term to the gradient of every (shared) weight."})
    values = {lay.param_id(p): _short(g, "∂L ") for p, g in tr.grads.items()}
    blocks = [_block("total loss", "L = sum of the L_t", tr.loss)]
    blocks += _param_blocks("grad", "dL/d{k} (BPTT)", tr.grads)
    steps.append({"status": "gradient (BPTT)", "t": None, "active": lay.param_ids(),
                  "values": values, "blocks": blocks, "verdict": verdict is not None,
                  "note": "The gradient: the sum over the steps of their contributions "
                          "(the accumulation after step 0)."})
    return steps


def _rtrl_steps(rt, lay: _Layout, bptt_grads: dict) -> list:
    shapes = dict(rt.param_shapes)
    labels = [lab for k, s in shapes.items() for lab in _entry_labels(k, s)]
    steps, T = [], len(rt.steps)
    for t, step in enumerate(rt.steps):
        values, blocks = {}, []
        if "y" in lay.rows:
            values[lay.node_id(t, "y")] = _short(step["y"])
            blocks.append(_block("y", f"y({t})", step["y"]))
        for s, v in zip(lay.states, step["state"]):
            values[lay.node_id(t, s)] = _short(v)
            blocks.append(_block(s, f"{s}({t})", v))
        if step["loss"] is not None:
            values[lay.node_id(t, "loss")] = _short(step["loss"])
            blocks.append(_block("loss", f"L_{t}", step["loss"]))
        B = None
        for s, sens in zip(lay.states, step["sensitivities"]):
            sens = np.asarray(sens)          # (P, B, n)
            B = sens.shape[1]
            off = 0
            for k, shape in shapes.items():
                size = int(np.prod(shape, dtype=np.int64))
                part = sens[off:off + size, 0, :]
                blocks.append(_block(f"sens {s} {k}", f"d{s}({t})/d{k}" +
                                     (" (batch element 0)" if B > 1 else ""), part,
                                     row_labels=labels[off:off + size],
                                     col_labels=[f"{s}[{j}]" for j in range(part.shape[1])]))
                off += size
        so_far = _split(step["gradient"], shapes)
        values.update({lay.param_id(p): _short(g, "Σ ") for p, g in so_far.items()})
        blocks += _param_blocks("gradient so far", f"dL/d{{k}} so far (steps 0..{t})", so_far)
        active = lay.state_ids(t) + ([lay.node_id(t, "y")] if "y" in lay.rows else [])
        active += [lay.node_id(t, "loss")] if lay.losses[t] is not None else []
        steps.append({"status": f"RTRL t={t}", "t": t, "active": active + lay.param_ids(),
                      "values": values, "blocks": blocks, "verdict": False,
                      "note": f"RTRL, step {t}: the state and its sensitivities P({t}) = "
                              f"d state({t}) / d θ are carried forward, P({t}) = "
                              f"(∂ state({t}) / ∂ state({t - 1})) P({t - 1}) + ∂ state({t}) / ∂ θ"
                              + (f"; the loss L_{t} adds dL_{t}/dθ through y({t}) to the "
                                 "gradient at once." if step["loss"] is not None else
                                 "; no loss at this step, the gradient is unchanged.")
                              + (" Nothing of the past is stored." if t else "")})
    values = {lay.param_id(p): _short(g, "∂L ") for p, g in rt.grads.items()}
    blocks = [_block("total loss", "L = sum of the L_t", rt.loss)]
    blocks += _param_blocks("rtrl grad", "dL/d{k} (RTRL)", rt.grads)
    blocks += _param_blocks("bptt grad", "dL/d{k} (BPTT)", bptt_grads)
    steps.append({"status": "RTRL gradient", "t": None, "active": lay.param_ids(),
                  "values": values, "blocks": blocks, "verdict": True,
                  "note": f"After step {T - 1} the RTRL gradient is complete, computed forward "
                          "in time; beside it the BPTT gradient, computed backward."})
    return steps


def _check_pair(bptt, rtrl) -> None:
    if len(bptt.forward) != len(rtrl.steps):
        raise ValueError(f"step_page: the BPTT trace has {len(bptt.forward)} steps, the RTRL "
                         f"trace {len(rtrl.steps)}; give two traces of the same computation")
    for k in dict.fromkeys(list(bptt.grads) + list(rtrl.grads)):
        if k not in bptt.grads or k not in rtrl.grads or \
                np.shape(bptt.grads[k]) != np.shape(rtrl.grads[k]):
            raise ValueError(f"step_page: parameter {k!r} differs between the traces (BPTT "
                             f"{np.shape(bptt.grads.get(k))}, RTRL {np.shape(rtrl.grads.get(k))})"
                             "; give two traces of the same cell")
    if len(bptt.state_names) != len(rtrl.steps[0]["state"]):
        raise ValueError(f"step_page: the BPTT trace has states {bptt.state_names}, the RTRL "
                         f"trace {len(rtrl.steps[0]['state'])}; give traces of the same cell")


def _page_data(bptt, rtrl, title, rtol):
    """(layout, param shapes, JSON-able data, title) for a page of these traces."""
    if bptt is None and rtrl is None:
        raise ValueError("step_page: give a BPTT trace, an RTRL trace or both")
    if bptt is not None and rtrl is not None:
        _check_pair(bptt, rtrl)
    if bptt is not None:
        T, names = len(bptt.forward), bptt.state_names
        # rows in the order of the step that names the most quantities, then any others
        keys = list(max(bptt.forward, key=len))
        keys += [k for f in bptt.forward for k in f if k not in keys]
        quantities = [k for k in dict.fromkeys(keys) if k not in names and k != "y"]
        has_y = "y" in keys and "y" not in names
        present = [set(f) for f in bptt.forward]
        losses, shapes = bptt.losses, {k: np.shape(g) for k, g in bptt.grads.items()}
        cell_title = bptt.cell_title
    else:
        T = len(rtrl.steps)
        names = tuple(f"state{j}" for j in range(len(rtrl.steps[0]["state"])))
        quantities, has_y, present = [], True, None
        losses, shapes = [s["loss"] for s in rtrl.steps], dict(rtrl.param_shapes)
        cell_title = rtrl.cell_title
    lay = _Layout(T, quantities, names, has_y, losses, shapes, present)
    verdict = None
    if rtrl is not None:
        other = bptt.grads if bptt is not None else rtrl.bptt_grads
        verdict = _verdict(other, rtrl.grads, rtol)
    modes = {}
    if bptt is not None:
        modes["bptt"] = _bptt_steps(bptt, lay, verdict)
    if rtrl is not None:
        modes["rtrl"] = _rtrl_steps(rtrl, lay, bptt.grads if bptt is not None else rtrl.bptt_grads)
    if title is None:
        ways = " and ".join(m.upper() for m in modes)
        title = f"{ways} through {T} steps of {cell_title}, step by step"
    data = {"title": title, "T": T, "digits": DIGITS, "state_names": list(names),
            "start_mode": "bptt" if bptt is not None else "rtrl", "modes": modes,
            "comparison": verdict}
    return lay, shapes, data, title


def _fragment(bptt, rtrl=None, title=None, rtol=None, standalone=False):
    """(the page's HTML without <html>/<head>: what a notebook shows, its title)."""
    lay, shapes, data, title = _page_data(bptt, rtrl, title, rtol)
    # NOTE: "<" escaped so that no name can close the <script> element that carries the data
    blob = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    off = {m: "" if m in data["modes"] else " disabled" for m in ("bptt", "rtrl")}
    why = "" if rtrl is not None else " title=\"no RTRL trace was given\""
    return "\n".join([
        f'<div class="tgr-stepper" tabindex="0"{" data-standalone" if standalone else ""}>',
        f"<style>{_CSS}</style>",
        f"<h2>{html.escape(title)}</h2>",
        '<div class="bar">',
        f'<button id="mode-bptt" type="button"{off["bptt"]}>BPTT: forward, then backward</button>',
        f'<button id="mode-rtrl" type="button"{off["rtrl"]}{why}>RTRL: forward with '
        "sensitivities</button>",
        '<button id="prev" type="button">&larr; Previous</button>',
        '<button id="next" type="button">Next &rarr;</button>',
        '<span id="status" aria-live="polite"></span><span id="counter"></span>',
        "</div>",
        '<div class="wrap"><div class="graph">', _svg(lay, shapes), "</div>",
        '<div id="panel"></div></div>',
        '<p class="help">Next / Previous or the arrow keys walk the steps; highlighted boxes '
        "are the ones computed at the step shown, their numbers inside them and in full in the "
        f"panel ({DIGITS} significant digits).</p>",
        f'<script type="application/json" class="tgr-data">{blob}</script>',
        f"<script>{_JS}</script>",
        "</div>"]), title


def step_page(bptt_trace, rtrl_trace=None, title: str | None = None, *,
              rtol: float | None = None) -> str:
    """A self-contained HTML page stepping through ``bptt_trace`` (a ``BPTTTrace`` of T steps:
    forward t=0..T-1, backward t=T-1..0, the gradient) and, if given, ``rtrl_trace`` (an
    ``RTRLTrace`` of the same computation: forward t=0..T-1 with the sensitivities (P, B, n),
    the gradient). The RTRL mode ends with max |BPTT - RTRL| over the two traces' grads and
    says "agree" only when it is at most ``rtol`` (default 1e-10 in float64, 1e-4 otherwise)
    times the largest gradient entry. ``bptt_trace`` may be None to show RTRL alone.

        html_text = tr.teach.step_page(tr.teach.bptt_trace(cell, xs, None, loss_fn))
    """
    body, title = _fragment(bptt_trace, rtrl_trace, title, rtol, standalone=True)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title></head>\n<body>\n{body}\n</body></html>\n")


def write_step_page(path, bptt_trace, rtrl_trace=None) -> str:
    """Write ``step_page(bptt_trace, rtrl_trace)`` to ``path`` (UTF-8; the folder must exist)
    and return the path as a string.

        tr.teach.write_step_page("steps.html", bptt, rtrl)   # -> "steps.html"
    """
    path = Path(path)
    path.write_text(step_page(bptt_trace, rtrl_trace), encoding="utf-8")
    return str(path)


def step_page_for(cell, xs, loss_fn, state0=None) -> str:
    """The step-through page of ``cell`` over ``xs`` (T, B, I): computes
    ``bptt_trace(cell, xs, state0, loss_fn)`` and ``rtrl_trace(...)`` and returns
    ``step_page`` of both. Meant for small cells (a few units, a few steps).

        page = tr.teach.step_page_for(tr.nn.RNNCell(2, 2), np.ones((3, 1, 2)),
                                      lambda t, y: (y * y).sum())
    """
    from .bptt import bptt_trace
    from .rtrl import rtrl_trace
    return step_page(bptt_trace(cell, xs, state0, loss_fn), rtrl_trace(cell, xs, state0, loss_fn))
