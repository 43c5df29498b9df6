r"""What exactly is missing: wrong gradients matched against deliberately broken references.

The traced forward is a graph whose every node knows the author's expression that made it
(:class:`~gradlab.check.layer.trace.Site`). A classic mistake in a hand-written backward is the exact
VJP of a slightly different graph, so each *mutation* below runs reverse mode once more with a few
nodes' VJPs changed, and a backward whose every returned gradient equals one mutated VJP (to rounding)
is explained by it, in the author's expressions:

* **a derivative left out** — a ``tanh``/``sigmoid``/``exp`` node (or one call of a helper the author
  wrote, such as ``sigmoid(x) = 1/(1+np.exp(-x))``) passes the gradient through unchanged;
* **a path cut between time steps** — the gradient along one operand of one expression is dropped
  where that operand was made by an earlier step (``prev_h`` in ``prev_h.dot(Wh)``: the recurrent term;
  ``prev_c`` in ``f * prev_c``: the LSTM's cell path);
* **the wrong value in a product** — a product's VJP for one operand computed with another value of the
  same step and shape in place of the other operand (``next_h`` where ``prev_h`` belongs: h_t for h_{t−1});
* **two slices swapped** — the gradients of two equal slices of one array sent back into each other's
  place (a backward that stacks the gate gradients in another order than the forward slices the gates).

When no mutation explains every gradient at once, a single wrong gradient may still be recognised as
the true gradient of *another value* of the forward — the reference adjoint of an intermediate node
(``dh0`` that is really the gradient of the first state ``next_h`` at t = 0, one step too late).

**Between time steps.** Nodes made in two calls of one function from one call site (a step function
called in a loop), or by one expression of one frame in two loop iterations, belong to different steps;
an edge from the earlier to the later one carries the recurrence. This is decided from the recorded
frames, not from names, so it works for any step function and for inline loops.
"""
from __future__ import annotations

import ast
import os
from dataclasses import dataclass

import numpy as np

from ..compare import compare, tolerance

__all__ = ["Mutation", "mutations", "explain", "explain_adjoints", "is_recurrent", "operand_texts"]

MAX_MUTATIONS = 400
_DERIVATIVE = {"tanh": "its derivative 1 − tanh²", "sigmoid": "its derivative σ(1 − σ)", "exp": "its derivative exp"}


@dataclass
class Mutation:
    """A broken reference: ``override`` for the mutated reverse pass, and the sentence that explains a match."""

    kind: str
    override: object
    sentence: str


def is_recurrent(parent_site, child_site) -> bool:
    """True when the parent value was made in an earlier time step than the child (see the module docstring)."""
    ps, cs = parent_site.stack, child_site.stack
    d = 0
    while d < len(ps) and d < len(cs) and ps[d][0] == cs[d][0]:
        d += 1
    if d == 0:
        return False
    k = d - 1
    pp, cp = ps[k][2], cs[k][2]
    if pp != cp:
        return pp > cp
    deeper_p, deeper_c = len(ps) > d, len(cs) > d
    if deeper_p and deeper_c:
        return True                     # two calls from one call site: two iterations of a loop
    if not deeper_p and not deeper_c:
        return parent_site.event != child_site.event
    return False


def operand_texts(text: str) -> list | None:
    """The source of the operands of a product or call (``prev_h.dot(Wh)`` -> ["prev_h", "Wh"])."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        return None
    if isinstance(tree, ast.BinOp):
        return [ast.unparse(tree.left), ast.unparse(tree.right)]
    if isinstance(tree, ast.Call):
        args = [ast.unparse(a) for a in tree.args]
        if isinstance(tree.func, ast.Attribute) and len(args) == 1 and tree.func.attr in ("dot", "matmul", "__mul__"):
            return [ast.unparse(tree.func.value), args[0]]
        return args or None
    return None


def _assigned_name(site) -> str | None:
    """The name the site's line assigns to (``next_h`` in ``next_h = np.tanh(a)``), if it is one name."""
    try:
        tree = ast.parse(site.line_text())
    except SyntaxError:
        return None
    if tree.body and isinstance(tree.body[0], ast.Assign) and len(tree.body[0].targets) == 1:
        t = tree.body[0].targets[0]
        if isinstance(t, ast.Name):
            return t.id
    return None


def _at(site) -> str:
    try:
        rel = os.path.relpath(site.file)
        f = rel if not rel.startswith("..") else site.file
    except ValueError:
        f = site.file
    return f"{f}:{site.line}"


def mutations(trace) -> list:
    r"""Return the :class:`Mutation` list for a trace: derivatives left out, paths cut between steps,
    wrong values in products (at most :data:`MAX_MUTATIONS`)."""
    sites = trace.tracer.sites
    nodes = [n for n in sites]
    by_site: dict = {}
    for n in nodes:
        by_site.setdefault(sites[n].key, []).append(n)
    out = []

    # (A) a derivative left out: an activation node passes g through
    for key, group in by_site.items():
        for name in ("tanh", "sigmoid", "exp"):
            members = {n for n in group if n.op.name == name}
            if not members:
                continue
            site = sites[next(iter(members))]

            def override(node, g, inputs, members=members):
                return {node.parents[0]: g} if node in members else None

            out.append(Mutation("derivative", override,
                                f"the derivative of np.{name} at {_at(site)} (`{site.text()}`) left out — "
                                f"{_DERIVATIVE[name]} is missing where the gradient passes it"))
    out.extend(_helper_mutations(trace))

    # (B) a path cut between time steps
    cuts: dict = {}
    for n in nodes:
        for i, p in enumerate(n.parents):
            if p.requires_grad and p.op is not None and p in sites and is_recurrent(sites[p], sites[n]):
                cuts.setdefault((sites[n].key, i), set()).add(n)
    for (key, i), members in cuts.items():
        site = sites[next(iter(members))]
        operands = operand_texts(site.text())
        what = f"`{operands[i]}` in `{site.text()}`" if operands and i < len(operands) else \
            f"operand {i + 1} of `{site.text()}`"

        def override(node, g, inputs, members=members, i=i):
            if node not in members:
                return None
            sent = {}
            for j, p in enumerate(node.parents):
                if j != i and p.requires_grad:
                    pg = node.op.input_vjp(j, g, node.data, inputs, np, node.attrs)
                    if pg is not None:
                        sent[p] = sent[p] + pg if p in sent else pg
            return sent

        out.append(Mutation("cut", override,
                            f"no gradient flowing back from one time step into the previous one through {what} "
                            f"({_at(site)}): that term of the backward recursion is missing — the gradient of "
                            f"{operands[i] if operands and i < len(operands) else 'that operand'} must be carried "
                            f"back to the earlier step"))

    # (C) another value of the same step in a product
    out.extend(_substitutions(trace, by_site))
    # (D) two slices of one array whose gradients go back into each other's place (a gate order)
    out.extend(_swapped_slices(trace))
    return out[:MAX_MUTATIONS]


def _made(trace, node) -> int:
    """When ``node`` was recorded: its place among the traced sites (they are kept in recording order)."""
    order = trace.__dict__.get("_made")
    if order is None:
        order = trace.__dict__["_made"] = {n: i for i, n in enumerate(trace.tracer.sites)}
    return order.get(node, len(order))


def _swapped_slices(trace) -> list:
    """Pairs of same-shaped slices of one array (``a[:, 2H:3H]``, ``a[:, 3H:]``) with their gradients swapped."""
    sites = trace.tracer.sites
    by_parent: dict = {}
    for n, s in sites.items():
        if n.op.name == "getitem" and n.parents[0].requires_grad:
            by_parent.setdefault(n.parents[0], {}).setdefault(s.key, []).append(n)
    pairs: dict = {}
    for parent, groups in by_parent.items():
        keys = sorted(groups, key=lambda k: min(_made(trace, m) for m in groups[k]))
        for i, k1 in enumerate(keys):
            for k2 in keys[i + 1:]:
                a, b = groups[k1], groups[k2]
                if len(a) == len(b) == 1 and a[0].shape == b[0].shape:
                    pairs.setdefault((k1, k2), []).append((a[0], b[0]))
    out = []
    for (k1, k2), members in pairs.items():
        swap = {}
        for a, b in members:
            swap[a], swap[b] = b, a

        def override(node, g, inputs, swap=swap):
            other = swap.get(node)
            if other is None:
                return None
            parent = node.parents[0]        # getitem's own VJP, with the other slice's key: g scattered there
            return {parent: other.op.input_vjp(0, g, other.data, [parent.data], np, other.attrs)}

        s1, s2 = sites[members[0][0]], sites[members[0][1]]
        out.append(Mutation("swap", override,
                            f"the gradients of `{s1.text()}` ({_at(s1)}) and `{s2.text()}` ({_at(s2)}) put back "
                            f"into each other's place: the backward assembles those parts in another order than "
                            f"the forward slices them"))
    return out


def _helper_mutations(trace) -> list:
    """A helper the author wrote (``sigmoid``) called as if its derivative were 1."""
    sites = trace.tracer.sites
    frames: dict = {}
    for n, s in sites.items():
        if len(s.stack) >= 2:
            frames.setdefault((s.stack[-1][0], s.code), []).append(n)
    by_code: dict = {}
    for (_, code), members in frames.items():
        inside = set(members)
        out_node = max(members, key=lambda n: _made(trace, n))
        external = {p for n in members for p in n.parents if p not in inside and p.requires_grad}
        if len(external) != 1:
            continue
        (inp,) = external
        if inp.shape != out_node.shape:
            continue
        by_code.setdefault((code, sites[out_node].stack[-2][2]), []).append((out_node, inp, members))
    out = []
    for (code, _), calls in by_code.items():
        owners = {o: i for o, i, _ in calls}
        caller = sites[calls[0][0]]

        def override(node, g, inputs, owners=owners):
            return {owners[node]: g} if node in owners else None

        out.append(Mutation("derivative", override,
                            f"the derivative of {code.co_name}() (called in {caller.stack[-2][1].co_name}() at "
                            f"line {caller.stack[-2][3]}) left out — the gradient passes through it unchanged"))
    return out


def _substitutions(trace, by_site) -> list:
    sites = trace.tracer.sites
    leaves = trace.leaves
    out = []
    for key, group in by_site.items():
        if not all(n.op.name in ("matmul", "mul") and len(n.parents) == 2 for n in group):
            continue
        site = sites[group[0]]
        operands = operand_texts(site.text())
        for k in (0, 1):
            j = 1 - k
            if not all(n.parents[j].requires_grad for n in group):
                continue
            shape = group[0].parents[k].shape
            if any(n.parents[k].shape != shape for n in group):
                continue
            # substitutes: same shape, made in the same call (frame) of the step, or an input
            options: dict = {}
            for n in group:
                frame = sites[n].stack
                for m, ms in sites.items():
                    if m is n or m is n.parents[k] or m.shape != shape:
                        continue
                    if ms.stack[:len(frame)] and all(a[0] == b[0] for a, b in zip(ms.stack[:len(frame)], frame)) \
                            and len(ms.stack) >= len(frame):
                        options.setdefault(("node", ms.key), {}).setdefault(n, []).append(m)
                for path, leaf in leaves.items():
                    if leaf.shape == shape and leaf is not n.parents[k]:
                        options.setdefault(("leaf", path), {}).setdefault(n, []).append(leaf)
            for sub_key, per_node in options.items():
                if set(per_node) != set(group) or any(len(v) != 1 for v in per_node.values()):
                    continue
                pick = {n: v[0] for n, v in per_node.items()}

                def override(node, g, inputs, pick=pick, k=k, j=j):
                    if node not in pick:
                        return None
                    swapped = list(inputs)
                    swapped[k] = pick[node].data
                    sent = {}
                    for i, p in enumerate(node.parents):
                        if not p.requires_grad:
                            continue
                        pg = node.op.input_vjp(i, g, node.data, swapped if i == j else inputs, np, node.attrs)
                        if pg is not None:
                            sent[p] = sent[p] + pg if p in sent else pg
                    return sent

                if sub_key[0] == "leaf":
                    sub = f"the input {sub_key[1][-1]}"
                else:
                    ss = sites[next(iter(pick.values()))]
                    name = _assigned_name(ss)
                    sub = f"{name} ({_at(ss)})" if name else f"`{ss.text()}` ({_at(ss)})"
                was = f"`{operands[k]}`" if operands and k < len(operands) else f"operand {k + 1}"
                other = operands[j] if operands and j < len(operands) else f"operand {j + 1}"
                out.append(Mutation("substitute", override,
                                    f"{sub} in place of {was} in `{site.text()}` ({_at(site)}) when forming the "
                                    f"gradient of {other}"))
    return out


def explain(trace, upstream, cands: dict, refs: dict, wrong: set, names: dict, limit: int = MAX_MUTATIONS):
    r"""Return the sentence of the first mutation whose VJP equals every returned gradient (``cands``,
    {path: array}) while the true reference does not, or None."""
    if not wrong or trace is None or not trace.ok:
        return None
    tol = tolerance("exact")
    for m in mutations(trace)[:limit]:
        try:
            got = trace.vjp(upstream, override=m.override)
        except Exception:  # noqa: BLE001 - a mutation that does not fit this graph explains nothing
            continue
        ok = True
        for path, c in cands.items():
            scale = float(np.max(np.abs(refs[path]))) if np.size(refs[path]) else 0.0
            if np.shape(c) != np.shape(got[path]) or compare(c, got[path], tol, scale=scale).n_bad:
                ok = False
                break
        if ok:
            who = ", ".join(names[p] for p in cands if p in wrong)
            return m.kind, (f"your {who} {'is' if len(wrong) == 1 else 'are'} exactly what the reference gives with "
                            f"{m.sentence}.")
    return None


def _describe_node(trace, node, sizes=None, time=None) -> str:
    """``next_h (rnn.py:8) in the 1st call of rnn_step_forward() (t = 0)``."""
    sites = trace.tracer.sites
    site = sites[node]
    name = _assigned_name(site)
    text = f"{name} (`{site.text()}`, {_at(site)})" if name else f"`{site.text()}` ({_at(site)})"
    serials = sorted({s.frame for s in sites.values() if s.code is site.code})
    if len(serials) > 1:
        k = serials.index(site.frame)
        nth = {0: "1st", 1: "2nd", 2: "3rd"}.get(k, f"{k + 1}th")
        text += f" in the {nth} of {len(serials)} calls of {site.func}()"
        if time is not None and sizes is not None and sizes.get(time) == len(serials):
            text += f" (t = {k})"
    return text


def explain_adjoints(decl, trace, upstream, cands: dict, refs: dict, wrong: set, names: dict, sizes=None) -> list:
    r"""Return [(path, sentence)] for wrong gradients that equal the reference gradient of an intermediate
    value of the forward (the adjoint of one traced node) instead of their own input's."""
    if trace is None or not trace.ok or not wrong:
        return []
    from ...engine.autodiff import requires_grad, reverse, toposort

    shapes = {np.shape(cands[p]) for p in wrong if p in cands}
    keep = [n for n in trace.tracer.sites if n.shape in shapes and n.requires_grad]
    seeds = {}
    for name, g in upstream.items():
        t = trace.outputs.get(name)
        if t is not None and getattr(t, "requires_grad", False):
            seeds[t] = seeds[t] + g if t in seeds else np.asarray(g, dtype=float)
    if not seeds or not keep:
        return []
    adj = reverse(toposort(list(seeds), follow=requires_grad), seeds, keep=set(keep))
    tol = tolerance("exact")
    out = []
    for p in sorted(wrong, key=lambda q: list(cands).index(q) if q in cands else 0):
        if p not in cands:
            continue
        c = cands[p]
        scale = float(np.max(np.abs(refs[p]))) if np.size(refs[p]) else 0.0
        for n in sorted(keep, key=lambda m: _made(trace, m)):
            g = adj.get(n)
            if g is None or np.shape(g) != np.shape(c) or not np.any(g):
                continue
            if compare(c, g, tol, scale=max(scale, float(np.max(np.abs(g))))).n_bad == 0:
                leaf = trace.leaves.get(p)
                how = (f"a value computed from {p[-1]}, so the backward from there back to {p[-1]} is missing"
                       if leaf is not None and _depends_on(n, leaf) else "a different value of the forward")
                out.append((p, f"your {names[p]} is the gradient of {_describe_node(trace, n, sizes, decl.time)} "
                               f"instead of the gradient of the input {p[-1]}: it is read off at {how}."))
                break
    return out


def _depends_on(node, leaf) -> bool:
    """True when ``leaf`` is among ``node``'s ancestors."""
    seen, todo = set(), [node]
    while todo:
        n = todo.pop()
        if n is leaf:
            return True
        if id(n) in seen:
            continue
        seen.add(id(n))
        todo.extend(n.parents)
    return False
