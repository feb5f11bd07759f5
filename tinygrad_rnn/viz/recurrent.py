"""Pictures of a cell: ``draw_folded`` (one step with its delay edge, the left half of the
seeds' "unfold" figure) and ``draw_unrolled`` (T steps as clusters left to right, shared
parameters drawn once, inputs below and outputs above). Both lay out their nodes here
(``_Layout``: rows and the order within them, told to Graphviz), so that every step is drawn
alike and state edges go straight from one step to the next."""
from __future__ import annotations

import graphviz

from ..graph.node import fail
from ..graph.traverse import toposort
from ..tensor import placeholder
from . import style
from .canvas import Canvas, new_digraph, scope_boxes

STATE = dict(shape="box", style="rounded,filled,bold", fillcolor="#bee3f8", color="#2b6cb0")
OUTPUT = dict(shape="box", style="rounded,filled", fillcolor="#c6f6d5", color="#2f855a")
# explained once in the title of the folded view (per-edge labels landed on the state nodes)
DELAY = dict(shape="square", style="filled", fillcolor="black", width="0.15", height="0.15",
             fixedsize="true", tooltip="delay: one step later")
PARAMETER_EDGE = dict(color="#d9822b", style="dashed", penwidth="0.6", arrowsize="0.5")
STATE_EDGE = dict(color="#2b6cb0", penwidth="1.8")


def _check(cell, detail):
    if detail not in ("ops", "gates"):
        raise fail(f"detail must be 'ops' or 'gates', got {detail!r}")
    return cell


def draw_folded(cell, detail: str = "gates") -> graphviz.Digraph:
    """The cell as one step with its recurrent (delay) edges: x(t) and the state entering
    the step at the bottom, the new state and output at the top, the parameters in one row
    under them; each new state loops back down the left side through a delay (■) to become
    the next step's input state. Laid out like one step of ``draw_unrolled``.

    >>> dot = draw_folded(tr.nn.GRUCell(3, 4))  # tr.viz.save(dot, "gru.svg")
    """
    _check(cell, detail)
    x = placeholder((1, cell.input_size), cell.dtype, name="x(t)")
    state = tuple(placeholder((1, n), cell.dtype, name=f"{s}(t−1)")
                  for s, n in zip(cell.state_names, cell.state_sizes))
    y, new = cell(x, state)
    dot = new_digraph(f"{cell.title}: folded (one step; each new state loops back through a "
                      "delay ■, one step later)", "BT", remincross="false")
    order = toposort([y.node] + [s.node for s in new])
    params = [p.node for p in cell.parameters().values()]
    param_ids = {id(p) for p in params}
    labels = {id(s.node): style.html_label(f"{name}(t)", style.shape_text(s.shape))
              for s, name in zip(new, cell.state_names)}
    if id(y.node) not in labels:
        labels[id(y.node)] = style.html_label("y(t)", style.shape_text(y.shape))
    looks = {id(s.node): STATE for s in (*state, *new)}
    looks.setdefault(id(y.node), OUTPUT)
    boxes = scope_boxes(order) if detail == "gates" else (lambda n: None)
    canvas = _StepCanvas(dot, group=lambda n: None if id(n) in labels else boxes(n),
                         cluster=lambda n: "params" if id(n) in param_ids else "step")
    canvas.add_cluster("step", "", style="invis")
    canvas.add_cluster("params", "parameters", fillcolor="#fffaf0")
    canvas.draw_nodes(order, labels=labels, looks=looks, edge_attrs=lambda a, b: dict(
        hold=True, **(PARAMETER_EDGE if id(a) in param_ids else {})))
    for p in params:
        canvas.place(p)
    for s_in, s_out in zip(state, new):
        canvas.connect(canvas.place(s_out.node), canvas.place(s_in.node), hold=True, loop=True,
                       style="dashed", **STATE_EDGE)
    layout = _Layout(canvas)
    entries = {id(s.node) for s in state}
    for node in order:
        if id(node) not in param_ids:
            layout.add(canvas.place(node), "step", node.serial, entry=id(node) in entries,
                       fixed=node is x.node)
    layout.place(["step"], [canvas.place(p) for p in params])
    canvas.finish()
    layout.finish()
    return dot


def _shown_steps(steps, max_steps):
    """(the steps drawn, 0-based; (first hidden, first drawn after them) or None)."""
    if not isinstance(steps, int) or steps < 1:
        raise fail(f"steps must be a positive int, got {steps!r}")
    if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1:
        raise fail(f"max_steps must be a positive int, got {max_steps!r}")
    if steps <= max_steps:
        return list(range(steps)), None
    head = (max_steps + 1) // 2
    tail = max_steps - head
    return list(range(head)) + list(range(steps - tail, steps)), (head, steps - tail)


class _StepCanvas(Canvas):
    """A Canvas that holds back edges (``hold=True``): ``_Layout`` draws them once it knows
    the rows, an edge across several rows as a path through one point per row."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.held: list[tuple[str, str, dict]] = []

    def connect(self, src: str, dst: str, hold: bool = False, **attrs):
        if not hold:
            return super().connect(src, dst, **attrs)
        if src != dst and (src, dst) not in self.edges:
            self.edges.add((src, dst))
            attrs.pop("minlen", None)  # the rows are set by _Layout
            self.held.append((src, dst, attrs))


def draw_unrolled(cell, steps: int, detail: str = "gates", max_steps: int = 8,
                  loss: bool = False) -> graphviz.Digraph:
    """The unrolled DAG over ``steps`` steps: each step a cluster, laid left to right and
    drawn alike (the same box at the same place in every step); the state leaves each step
    on its right and enters the next; the shared parameters drawn once, in one row under the
    steps, with an edge into every step that reads them; inputs x(t) below, outputs y(t)
    above. Beyond ``max_steps`` the middle steps collapse into one "⋯ k steps ⋯" box between
    the first and the last steps. ``loss=True`` adds a loss node L(t) on each output (the
    error's source).

    >>> dot = draw_unrolled(tr.nn.LSTMCell(3, 4), steps=4)  # tr.viz.save(dot, "lstm.svg")
    """
    _check(cell, detail)
    shown, gap = _shown_steps(steps, max_steps)
    # remincross=false: dot's last pass over the whole graph would undo the order within each
    # step that _Layout asks for
    dot = new_digraph(f"{cell.title} unrolled over {steps} steps (parameters shared)", "BT",
                      remincross="false")
    params = [p.node for p in cell.parameters().values()]
    param_ids = {id(p) for p in params}
    state = tuple(placeholder((1, n), cell.dtype, name=f"{s}(0)")
                  for s, n in zip(cell.state_names, cell.state_sizes))
    entries = {id(s.node) for s in state}
    step_of, labels, looks, outputs, xs, skipped = {}, {}, {}, [], set(), []
    seen = set(param_ids)
    for t in shown:
        if gap and t == gap[1]:  # the state entering the first step after the collapsed middle
            skipped = [(a, placeholder((1, n), cell.dtype, name=f"{s}({t})"))
                       for a, s, n in zip(state, cell.state_names, cell.state_sizes)]
            state = tuple(b for _, b in skipped)
            entries.update(id(s.node) for s in state)
        x = placeholder((1, cell.input_size), cell.dtype, name=f"x({t + 1})")
        xs.add(id(x.node))
        y, new = cell(x, state)
        for node in toposort([y.node] + [s.node for s in new]):
            if id(node) not in seen:
                seen.add(id(node))
                step_of[id(node)] = t
        for s, name in zip(new, cell.state_names):
            labels[id(s.node)] = style.html_label(f"{name}({t + 1})", style.shape_text(s.shape))
            looks[id(s.node)] = STATE
        if id(y.node) not in labels:
            labels[id(y.node)] = style.html_label(f"y({t + 1})", style.shape_text(y.shape))
            looks[id(y.node)] = OUTPUT
        outputs.append((t, y, new))
        state = new
    order = toposort([n for _, y, new in outputs for n in (y.node, *[s.node for s in new])])
    for node in order:
        if id(node) in entries:
            labels[id(node)] = style.html_label(node.name, style.shape_text(node.shape))
            looks[id(node)] = STATE

    def cluster(node):
        if id(node) in param_ids:
            return "params"
        t = step_of.get(id(node))
        return None if t is None else f"t{t}"

    def group(node):
        if id(node) in labels or detail != "gates" or not node.scope:
            return None
        return (step_of.get(id(node)),) + node.scope

    canvas = _StepCanvas(dot, group=group, cluster=cluster)
    for t in shown:
        canvas.add_cluster(f"t{t}", f"step t = {t + 1}")
    canvas.add_cluster("params", "parameters (shared by every step)", fillcolor="#fffaf0")
    canvas.draw_nodes(order, labels=labels, looks=looks, edge_attrs=lambda a, b: dict(
        hold=True, **(PARAMETER_EDGE if id(a) in param_ids else
                      STATE_EDGE if step_of[id(a)] != step_of[id(b)] else {})))
    for p in params:  # a parameter no step reads is still one of the cell's
        canvas.place(p)
    layout = _Layout(canvas)
    for node in order:
        if id(node) in step_of:
            layout.add(canvas.place(node), f"t{step_of[id(node)]}", node.serial,
                       entry=id(node) in entries, fixed=id(node) in xs)
    if loss:
        for t, y, _ in outputs:
            name = f"loss{t}"
            canvas._target(f"t{t}").node(name, style.html_label(f"L({t + 1})", "loss"),
                                        shape="box", style="rounded,filled", fillcolor="#fed7d7",
                                        color="#c53030")
            canvas.connect(canvas.place(y.node), name, hold=True, color="#c53030")
            layout.add(name, f"t{t}", y.node.serial)
    columns = [f"t{t}" for t in shown]
    if gap:  # the collapsed middle: one box between the last head step and the first tail step
        middle = "skipped"
        hidden = gap[1] - gap[0]
        dot.node(middle, f"⋯ {hidden} step{'s' if hidden > 1 else ''} ⋯", shape="box",
                 style="rounded,dashed",
                 color="#2b6cb0", fontcolor="#2b6cb0", fontsize="12",
                 tooltip=f"steps {gap[0] + 1}–{gap[1]} are not drawn")
        head = len([t for t in shown if t < gap[0]])
        columns.insert(head, middle)
        layout.add(middle, middle, 0)
        for a, b in skipped or [(s, None) for s in outputs[-1][2]]:  # (max_steps=1: no tail)
            canvas.connect(canvas.place(a.node), middle, hold=True, style="dashed", **STATE_EDGE)
            if b is not None:
                canvas.connect(middle, canvas.place(b.node), hold=True, style="dashed",
                               **STATE_EDGE)
    layout.place(columns, [canvas.place(p) for p in params])
    canvas.finish()
    layout.finish()  # after the clusters, so that the nodes are already defined inside them
    return dot


class _Layout:
    """Where dot puts the nodes of ``draw_unrolled`` and ``draw_folded``, decided here and
    told to dot.

    Each step's nodes get rows (``_levels``) and an order within each row (``_order_rows``),
    computed alike for every step, so that every step looks the same; a row is one rank of
    dot (an invisible column of markers keeps the rows apart), holding the steps one after
    the other; the parameters are one row below the inputs. An edge that spans rows becomes a
    path through points (small dots), one per row, that have their place in the order too: a
    state runs down (or up) the right side of the step it leaves (the left side of the step
    after the collapsed middle), a parameter enters the step that reads it from below, a
    folded cell's state loops down its left side to a delay ■ beside the state it feeds. Dot
    keeps the order it is told by invisible edges between neighbours inside a cluster, if
    its last pass over the whole graph is off (remincross=false); with every edge between
    neighbouring rows, it then keeps the steps in their order too (tests/test_viz_layout.py
    checks both on every cell)."""

    def __init__(self, canvas: _StepCanvas):
        self.canvas, self.dot = canvas, canvas.dot
        self.column: dict[str, str] = {}  # node -> its step's cluster, "params" or the middle
        self.serial: dict[str, int] = {}
        self.entries: list[str] = []
        self.fixed: set[str] = set()
        self.points: set[str] = set()  # the invisible points of long edges
        self.rows: list[list[str]] = []

    def add(self, name: str, column: str, serial: int, entry: bool = False, fixed: bool = False):
        self.column.setdefault(name, column)
        self.serial[name] = min(self.serial.get(name, serial), serial)
        if entry and name not in self.entries:
            self.entries.append(name)
        if fixed:
            self.fixed.add(name)

    def place(self, columns: list[str], params: list[str]):
        """``columns``: the steps' clusters and the collapsed middle, left to right."""
        for p in params:
            self.add(p, "params", 0)
        steps = [c for c in columns if c in self.canvas.clusters]
        inputs = {n: [] for n in self.column}
        users = {n: [] for n in self.column}
        outside = dict.fromkeys(self.column, 0)  # inputs from the left: the step before,
        for a, b, attrs in self.canvas.held:     # or entering state (not the parameters)
            if attrs.get("loop"):  # (a folded cell's delay: from the top back to the bottom)
                continue
            if self.column[a] == self.column[b]:
                users[a].append(b)
                if a not in self.entries:
                    inputs[b].append(a)
            if a in self.entries or self.column[a] not in (self.column[b], "params"):
                outside[b] += 1
        row = dict.fromkeys(params, 0)
        for c in steps:
            names = _topological([n for n in self.column if self.column[n] == c], inputs)
            level = _levels(names, inputs, outside, users, self.fixed & set(names),
                            set(self.entries))
            row.update((n, lv + 1) for n, lv in level.items())
        for c in columns:  # the collapsed middle: halfway between what it joins
            if c not in steps:
                near = [row[a] for a, b, _ in self.canvas.held if c in (a, b) and a != c] + [
                    row[b] for a, b, _ in self.canvas.held if a == c]
                row[c] = (max(near) + min(near)) // 2
        # every edge a path through one point per row between its ends; a loop (the delay
        # of a folded cell) down the left side, ending in a delay ■ beside the state it feeds
        paths, points, sides = [], {}, {}
        for a, b, attrs in self.canvas.held:
            ka, kb = self.column[a], self.column[b]
            home = ka if ka in steps else kb  # the step the points are in
            loop = bool(attrs.pop("loop", False))
            way = range(row[a], row[b] - loop, 1 if row[b] > row[a] else -1)[1:]
            path = [a]
            for r in way:
                # a state's paths into the next step share their points
                key = (a, r) if ka != kb and ka in steps else (a, b, r)
                if key not in points:
                    name = points[key] = f"via{len(points)}"
                    # a dot of the line's colour: dot ends each piece of the line a point
                    # short of the centre, and the dot fills the gap
                    size = f"{(float(attrs.get('penwidth', 1)) + 1) / 72:.3f}"
                    look = dict(shape="point", width=size, height=size,
                                color=attrs.get("color", "#4a5568"))
                    if loop and r == way[-1]:
                        look = dict(DELAY)
                    else:
                        self.points.add(name)
                    self.canvas.clusters[home].node(name, "", **look)
                    self.column[name], self.serial[name], row[name] = home, self.serial[a], r
                    inputs[name], users[name], outside[name] = [], [], 0
                    if loop or a in self.entries or ka != kb and ka != "params":
                        # (right side?, rows spanned); an entering state's: on the left
                        sides[name] = (not loop and a not in self.entries and home == ka,
                                       abs(row[a] - row[b]))
                    if self.column[path[-1]] == home:
                        inputs[name].append(path[-1])
                        users[path[-1]].append(name)
                    elif ka != "params":
                        outside[name] += 1
                path.append(points[key])
            paths.append((path + [b], attrs))
        grid: dict[str, dict[int, list[str]]] = {}
        for c in columns:
            names = [n for n in self.column if self.column[n] == c]
            inner = [n for n in names if n not in sides]
            rows = _order_rows(inner, {n: k for k, n in enumerate(self.entries) if n in names},
                               inputs, outside, users, {n: row[n] for n in inner},
                               self.serial, set(points.values()))
            for n in sorted((n for n in names if n in sides), key=lambda n: sides[n][1]):
                line = rows.setdefault(row[n], [])  # a state's path: down the side of the
                line.insert(len(line) if sides[n][0] else 0, n)  # step, the longest outside
            grid[c] = rows
            if c in steps:
                for line in rows.values():
                    for a, b in zip(line, line[1:]):
                        self.canvas.clusters[c].edge(a, b, style="invis")
        for a, b in zip(params, params[1:]):
            self.canvas.clusters["params"].edge(a, b, style="invis")
        drawn = set()
        for path, attrs in paths:
            self._draw(path, attrs, row, drawn)
        self.rows = [list(params)] + [[] for _ in range(max(row.values()))]
        for c in columns:
            for r, names in sorted(grid[c].items()):
                self.rows[r].extend(names)

    def _draw(self, path: list[str], attrs: dict, row: dict, drawn: set):
        """The edge ``path[0]`` -> ``path[-1]`` through its points, one arrow at the end (a
        piece that two paths share is drawn once). A path down the rows is written upwards
        with dir=back, so that dot ranks it like the rest (an edge with constraint=false
        would leave its points out of the order)."""
        last = len(path) - 2
        for k, (a, b) in enumerate(zip(path, path[1:])):
            if (a, b) in drawn:
                continue
            drawn.add((a, b))
            look = dict(attrs)
            if row[b] < row[a]:
                a, b = b, a
                look.update(dir="back" if k == last else "none")
            elif k != last:
                look.update(arrowhead="none")
            look.update({f"{end}clip": "false" for end, n in (("tail", a), ("head", b))
                         if n in self.points})  # meet at the points' centres: no gaps
            if row[a] == row[b]:  # (always from left to right: one curve, not two)
                look.update(constraint="false", tailport="e", headport="w")
            self.dot.edge(a, b, **look)

    def finish(self):
        """The rows, after the clusters (whose nodes must be defined first)."""
        marks = [f"row{k}" for k in range(len(self.rows))]
        for m in marks:
            self.dot.node(m, "", style="invis", width="0", height="0", fixedsize="true")
        for a, b in zip(marks, marks[1:]):
            self.dot.edge(a, b, style="invis", weight="100")
        for mark, names in zip(marks, self.rows):
            self.dot.body.append("\t{rank=same; " + "; ".join([mark] + names) + "}\n")


def _levels(names: list[str], inputs: dict, outside: dict, users: dict, fixed: set,
            entries: set) -> dict[str, int]:
    """The row of each node of one step: x(t) (``fixed``) in row 0, what depends on it one
    above its highest input; what does not (a transposed weight, a constant, a product with
    the state entering the step) just below its first user, but what reads the entering state
    (``outside``: from the step before, or an entering state) at least in row 1, and the
    entering states just below their first user. The entering states do not count as inputs,
    so that the first step is laid out like the others (where the state comes from the step
    before). A node with as many inputs as users may sit anywhere between them (no edge gets
    longer): in the emptiest row, nearest its users (as dot's own ranking balances them)."""
    level = {}
    for n in names:  # topological
        ins = [level[i] for i in inputs[n] if i in level]
        if n in fixed:
            level[n] = 0
        elif ins:
            level[n] = max(ins + [0 if outside[n] else -1]) + 1
    for n in reversed(names):
        if n not in level and n not in entries:
            above = [level[u] for u in users[n] if u in level]
            level[n] = max(min(above) - 1 if above else 0, 1 if outside[n] else 0)
    for n in names:  # a node pulled up must stay below its users
        for i in inputs[n]:
            if level[i] >= level[n]:
                level[n] = level[i] + 1
    count: dict[int, int] = {}
    for n in level:
        count[level[n]] = count.get(level[n], 0) + 1
    for n in names:
        if n in fixed or n in entries or not inputs[n] \
                or len(inputs[n]) + outside[n] != len(users[n]):
            continue
        low = 1 + max([level[i] for i in inputs[n]] + [0 if outside[n] else -1])
        high = min(level[u] for u in users[n]) - 1
        if high > low:
            count[level[n]] -= 1
            level[n] = min(range(low, high + 1), key=lambda r: (count.get(r, 0), -r))
            count[level[n]] = count.get(level[n], 0) + 1
    for n in entries & set(names):
        level[n] = min(level[u] for u in users[n]) - 1
    return level


def _order_rows(names, entries, inputs, outside, users, level, serial, points):
    """The left-to-right order of each row of one step: the entering states first, then
    each node at the mean place of its inputs (the state from the step before counts as the
    left edge); among equals, the boxes before the points of long edges, and first those
    whose users are nearest (what is used rows higher goes to the right, out of the way),
    then in the order the cell computes them. Nodes without inputs in the step (a
    parameter's way in, a constant) go at the mean place of their users."""
    rows: dict[int, list[str]] = {}
    for n in names:
        rows.setdefault(level[n], []).append(n)
    place: dict[str, float] = {}

    def put(row, key):
        row.sort(key=lambda n: (n not in entries, entries.get(n, 0), key(n),
                                n in points,
                                min((level[u] for u in users[n] if u in level), default=0),
                                serial.get(n, 0)))
        inner = [n for n in row if n not in entries]  # (as in a step that has none)
        for k, n in enumerate(inner):
            place[n] = (k + 1) / (len(inner) + 1)

    def mean(values, default):
        return sum(values) / len(values) if values else default

    for lv in sorted(rows):
        put(rows[lv], lambda n: mean([place[i] for i in inputs[n] if i in place
                                      and i not in entries] + [0.0] * outside[n], 0.5))
    for lv in sorted(rows, reverse=True):  # sources: below their users
        free = {n for n in rows[lv] if not inputs[n] and not outside[n] and n not in entries
                and users[n]}
        if free:
            old = dict(place)
            put(rows[lv], lambda n: mean([old[u] for u in users[n] if u in old], old[n])
                if n in free else old.get(n, 0.0))
    return rows


def _topological(names: list[str], inputs: dict) -> list[str]:
    """``names`` with each after its inputs, otherwise in the given order (a gate box is
    named after its first node, which may come before the box it reads)."""
    members, done, out = set(names), set(), []
    for n in names:
        stack = [(n, False)]
        while stack:
            m, expanded = stack.pop()
            if expanded:
                out.append(m)
            elif m not in done:
                done.add(m)
                stack.append((m, True))
                stack.extend((i, False) for i in reversed(inputs[m])
                             if i in members and i not in done)
    return out
