"""Cell interiors (``view="cell"``, and the gate-level unfolded view): the DOT source says what a teacher
checks on the slide — each gate's value leaves the right box and enters the right operation, the cell
state runs along one row, peepholes go from c into the gate boxes, and exactly the parts with no path
to the loss are grey. Tests that run `dot` carry the graphviz_exe marker."""
import json
import re

import pytest

from gradlab.render import style, to_dot, unfolding_of

CELLS = ["elman", "jordan", "lstm", "gru", "peephole", "fourgate"]


# ----------------------------------------------------------------------------------- helpers
def plain(markup: str) -> str:
    """Text of an HTML-like label: <I>W</I><SUB>s,f</SUB> -> W_s,f."""
    text = re.sub(r"<SUB>", "_", markup)
    text = re.sub(r"<BR[^>]*>", " ", text)
    return re.sub(r"<[^>]+>", "", text)


def nodes(src: str) -> dict:
    """{DOT name: (plain label, attribute text)} of every node statement."""
    out = {}
    for name, attrs in re.findall(r"^\s*(\S+) \[(.*)\]$", src, re.M):
        if name in ("graph", "node", "edge") or "->" in attrs:
            continue
        m = re.search(r"label=<(.*?)> (?=\w+=)", attrs + " x=")
        out[name] = (plain(m.group(1)) if m else "", attrs)
    return out


def flows(src: str) -> list:
    """(from, to, attribute text) of every drawn edge, in the direction its arrow points (an edge written
    bottom-up with dir=back points from its head to its tail)."""
    out = []
    for tail, head, attrs in re.findall(r"^\s*(\S+) -> (\S+)(?: \[(.*)\])?$", src, re.M):
        attrs = attrs or ""
        if "style=invis" in attrs:
            continue
        out.append((head, tail, attrs) if "dir=back" in attrs else (tail, head, attrs))
    return out


def named(src: str, text: str) -> list:
    """The nodes whose label starts with ``text`` (e.g. "n_t =" for the box that computes n_t)."""
    return [n for n, (label, _) in nodes(src).items() if label.startswith(text)]


def only(items):
    items = list(items)
    assert len(items) == 1, items
    return items[0]


def into(src, head) -> set:
    return {a for a, b, _ in flows(src) if b == head}


def out_of(src, tail) -> set:
    return {b for a, b, _ in flows(src) if a == tail}


# --------------------------------------------------------------------------------------- GRU
def test_gru_each_gate_value_leaves_its_own_box_and_enters_the_right_operation():
    src = to_dot("gru", "cell", T=3).source
    labels = {n: label for n, (label, _) in nodes(src).items()}
    r, z, n = only(named(src, "r_t =")), only(named(src, "z_t =")), only(named(src, "n_t ="))
    assert "σ" in labels[r] and "σ" in labels[z] and "tanh" in labels[n]
    # n_t = tanh(W_x,n x + b_x,n + r_t ⊙ (W_s,n s + b_s,n)): r_t scales the W_s,n box, then the sum
    w_sn = only([k for k, v in labels.items() if "W_s,n" in v])
    w_xn = only([k for k, v in labels.items() if "W_x,n" in v])
    reset = only(out_of(src, r))
    assert labels[reset] == "×" and into(src, reset) == {r, w_sn}
    pre_n = only(out_of(src, reset))
    assert labels[pre_n] == "+" and into(src, pre_n) == {reset, w_xn} and into(src, n) == {pre_n}
    # s_t = (1 − z_t) ⊙ n_t + z_t ⊙ s_{t−1}: n_t enters the product with 1 − z_t, z_t the one with s_{t−1}
    keep_new = only(out_of(src, n))
    one_minus = only([k for k in into(src, keep_new) if k != n])
    assert labels[keep_new] == "×" and labels[one_minus] == "1−" and into(src, one_minus) == {z}
    s_prev = only(named(src, "s_t−1"))
    keep_old = only([k for k in out_of(src, z) if k != one_minus])
    assert labels[keep_old] == "×" and into(src, keep_old) == {z, s_prev}
    total = only(out_of(src, keep_new))
    assert into(src, total) == {keep_new, keep_old} and out_of(src, total) == {"out_s"}


def test_gru_gate_boxes_list_their_own_rows_of_the_stacked_weights():
    src = to_dot("gru", "cell", T=3).source
    labels = {n: label for n, (label, _) in nodes(src).items()}
    for gate in "rz":
        box = labels[only(named(src, f"{gate}_t ="))]
        assert all(f"{w},{gate}" in box for w in ("W_x", "W_s", "b_x", "b_s")), box
        assert not any(f",{other}" in box for other in "rzn".replace(gate, "")), box


# -------------------------------------------------------------------------------------- LSTM
def test_lstm_cell_state_line_is_one_row_joined_by_heavy_edges_in_order():
    src = to_dot("lstm", "cell", T=3).source
    rows = re.findall(r"\{\n\t\trank=same\n((?:\t\t[^\n]*\n)+)\t\}", src)
    belt = only(rows).split()
    labels = {n: label for n, (label, _) in nodes(src).items()}
    assert [labels[b] for b in belt] == ["c_t−1", "×", "+", "c_t"]
    heavy = {(a, b) for a, b, attrs in flows(src) if "weight=8" in attrs}
    assert heavy == set(zip(belt, belt[1:]))
    # c_t is read below the line: tanh(c_t) -> × -> s_t all point down (written bottom-up)
    tanh = only([k for k in out_of(src, belt[2]) if labels[k] == "tanh"])
    assert any(a == belt[2] and b == tanh and "dir=back" in attrs for a, b, attrs in flows(src))


def test_lstm_has_one_box_per_gate_fed_by_the_joined_inputs_not_a_chain_of_weight_boxes():
    src = to_dot("lstm", "cell", T=3).source
    labels = {n: label for n, (label, _) in nodes(src).items()}
    boxes = [n for n, (_, attrs) in nodes(src).items() if "shape=box" in attrs]
    gates = {g: only(named(src, f"{g}_t =")) for g in "ifgo"}
    assert sorted(boxes) == sorted(gates.values())          # no separate W_x / W_s boxes
    join = only({only(into(src, box)) for box in gates.values()})
    assert "shape=point" in nodes(src)[join][1]
    assert {labels[e] for e in into(src, join)} == {"x_t", "s_t−1"}
    for g, box in gates.items():
        assert {f"W_x,{g}", f"W_s,{g}", f"b_s,{g}"} <= set(re.findall(r"[Wb]_[xs],\w", labels[box])), labels[box]
        assert ("tanh" if g == "g" else "σ") in labels[box]


def test_peephole_edges_go_from_the_cell_state_into_the_gate_boxes():
    src = to_dot("peephole", "cell", T=3).source
    labels = {n: label for n, (label, _) in nodes(src).items()}
    c_prev = only(named(src, "c_t−1"))
    gates = {g: only(named(src, f"{g}_t =")) for g in "ifgo"}
    for g in "if":
        assert c_prev in into(src, gates[g]) and f"p_{g}" in labels[gates[g]]
    # o_t sees the new c_t: the + on the cell-state line feeds the o box
    c_new = only(into(src, "out_c"))
    assert labels[c_new] == "+" and c_new in into(src, gates["o"]) and "p_o" in labels[gates["o"]]
    assert c_prev not in into(src, gates["g"]) and c_prev not in into(src, gates["o"])


# -------------------------------------------------------------------- grey where no gradient flows
def _ancestors(root) -> set:
    seen, stack = {root}, [root]
    while stack:
        for p in stack.pop().parents:
            if p not in seen:
                seen.add(p)
                stack.append(p)
    return seen


@pytest.mark.parametrize("cell", ["fourgate", "lstm", "gru"])
def test_grey_parts_are_exactly_those_with_no_path_to_the_loss(cell):
    u = unfolding_of(cell, T=3)
    src = to_dot(u, "unfolded", detail="gates").source
    loss = u.graph.outputs[0]
    reach = _ancestors(loss)
    by_index = dict(enumerate(u.graph.nodes))
    grey, drawn = set(), set()
    for name, (_, attrs) in nodes(src).items():
        m = re.fullmatch(r"t\d+_(?:n|in_)(\d+)(?:_\d+_\d+)?", name)
        if not m:
            continue
        node = by_index[int(m.group(1))]
        drawn.add(node)
        if style.NO_GRAD_FILL in attrs or style.NO_GRAD_LINE in attrs:
            grey.add(node)
    assert grey == {n for n in drawn if n not in reach}
    if cell == "fourgate":
        # what the last step learns (N_T ⊙ i_T into LTM_T) reaches STM only one step later: grey
        last = u.steps[3]
        assert len(grey) >= 4 and all(n.scope.t == 3 for n in grey)
        assert style.NO_GRAD_FILL in nodes(src)["t3_out_LTM"][1]
        assert {n.op.name for n in grey} >= {"tanh", "sigmoid", "mul", "add"} and last.states[1] in grey
    else:
        assert not grey


@pytest.mark.parametrize("cell", CELLS)
def test_the_last_step_draws_the_whole_cell(cell):
    src = to_dot(cell, "unfolded", detail="gates", T=3).source

    def parts(t):
        def generic(label):
            return re.sub(rf"_{t}\b", "_now", re.sub(rf"_{t - 1}\b", "_before", label))

        return sorted(generic(label) for n, (label, _) in nodes(src).items()
                      if n.startswith(f"t{t}_") and not n.endswith("_fork"))

    assert parts(3) == parts(2)


# ----------------------------------------------------------------------------- rendered layout
def _positions(fig) -> tuple:
    js = json.loads(fig.pipe(format="json"))
    pos = {o["name"]: tuple(float(v) for v in o["pos"].split(",")) for o in js["objects"] if "pos" in o}
    return pos, [float(v) for v in js["bb"].split(",")]


@pytest.mark.graphviz_exe
@pytest.mark.parametrize("cell", CELLS)
def test_cell_view_fits_a_16_9_slide_at_full_size_with_the_state_line_on_top(cell):
    fig = to_dot(cell, "cell", T=3)
    pos, (_, _, w, h) = _positions(fig)
    assert w <= 960 and h <= 540, (w, h)            # 1280 × 720 px at 96 dpi, no shrinking
    rows = re.findall(r"\{\n\t\trank=same\n((?:\t\t[^\n]*\n)+)\t\}", fig.source)
    for row in rows:
        belt = row.split()
        ys = {round(pos[b][1]) for b in belt}
        xs = [pos[b][0] for b in belt]
        assert len(ys) == 1 and xs == sorted(xs), belt       # straight, left to right
        assert max(y for _, y in pos.values()) - ys.pop() < 40   # across the top


@pytest.mark.graphviz_exe
@pytest.mark.parametrize("cell", CELLS)
def test_gate_level_unfolding_keeps_each_step_in_its_own_column_in_time_order(cell):
    fig = to_dot(cell, "unfolded", detail="gates", T=3)
    js = json.loads(fig.pipe(format="json"))
    boxes = {o["name"]: [float(v) for v in o["bb"].split(",")] for o in js["objects"]
             if o.get("name", "").startswith("cluster_t") and "bb" in o and "_" not in o["name"][8:]}
    assert sorted(boxes) == ["cluster_t1", "cluster_t2", "cluster_t3"]
    lefts = [boxes[f"cluster_t{t}"][0] for t in (1, 2, 3)]
    assert lefts == sorted(lefts)
    for o in js["objects"]:
        m = re.fullmatch(r"t(\d)_(?!.*_fork$).*", o.get("name", ""))
        if m and "pos" in o:
            x0, y0, x1, y1 = boxes[f"cluster_t{m.group(1)}"]
            x, y = (float(v) for v in o["pos"].split(","))
            assert x0 <= x <= x1 and y0 <= y <= y1, (o["name"], (x, y), (x0, y0, x1, y1))


def test_op_view_greys_exactly_the_ops_with_no_path_to_the_loss():
    u = unfolding_of("fourgate", T=2)
    src = to_dot(u, "ops").source
    reach = _ancestors(u.graph.outputs[0])
    drawn = {n: attrs for n, (_, attrs) in nodes(src).items() if re.fullmatch(r"n\d+", n)}
    by_index = dict(enumerate(u.graph.nodes))
    grey = {by_index[int(n[1:])] for n, attrs in drawn.items() if style.NO_GRAD_FILL in attrs}
    ops = {by_index[int(n[1:])] for n in drawn if by_index[int(n[1:])].op is not None}
    assert grey and grey == {n for n in ops if n not in reach}


@pytest.mark.graphviz_exe
@pytest.mark.parametrize("cell", CELLS)
def test_no_edge_of_an_interior_is_drawn_twice(cell):
    # dot 2.4x doubles a flat edge between clusters in some layouts (see test_render.py)
    for options in ({"view": "cell"}, {"view": "unfolded", "detail": "gates"}):
        svg = to_dot(cell, T=3, **options).pipe(format="svg").decode()
        groups = re.findall(r'<g id="edge\d+" class="edge">(.*?)</g>', svg, re.S)
        assert groups and all(g.count("<path") == 1 for g in groups), (cell, options)
