r"""The BPTT derivation in matrix/vector form, as a lecture writes it:

.. math::
    \delta_t = W_s^\top\big(\delta_{t+1} \odot (1 - s_{t+1}^2)\big) + W_y^\top (y_t - d_t), \qquad
    \frac{\partial E}{\partial W_s} = \sum_t \big(\delta_t \odot (1 - s_t^2)\big)\, s_{t-1}^\top

*Derived*, not typed in: the recorded graph of the unrolled cell (the same graph every other route reads)
is replayed on small vector expressions (:class:`VExpr`: vectors of a time step, weight matrices and their
per-gate row blocks, ⊙, matrix–vector products, outer products) and reverse mode runs through it with
one vector-level rule per op (:data:`RULES`: ``linear`` gives Wᵀg and g xᵀ, ``tanh`` gives g ⊙ (1 − out²),
…). Adjoints are named where a lecture names them: δ_t = ∂E/∂s_t at every part of the state, and, in
gated cells, δ^{a_i}_t = ∂E/∂a_{i,t} at every gate's pre-activation. Stacked gate weights are split
into their named row blocks (``W_s = [W_{si}; W_{sf}; W_{sg}; W_{so}]`` for the LSTM) wherever the
graph slices them, so every gate's weights get their own gradient line.

*Checked*: every definition of every step evaluates to numbers (:meth:`MatrixForm.evaluate`, NumPy
only), and :meth:`MatrixForm.check` compares the forward values and ∂E/∂W with the engine's forward
pass and reverse mode. A wrong rule in :data:`RULES` (a missing 1 − s², a missing transpose) gives
wrong numbers and fails the check, so the printed form is the checked form: printing reads the same
expressions at a generic step, and :meth:`MatrixForm.templates` confirms that every step prints the same.
"""
from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np

__all__ = ["VExpr", "compare_with_engine", "MatrixForm", "matrix_form", "RULES", "FORWARD", "break_rows", "tex_width", "Var", "Param",
           "Const", "Zero", "Add", "Neg", "OneMinus", "Scale", "Had", "Sq", "Func", "MatVec", "Outer", "Stack",
           "Slice", "add", "neg", "had", "matvec", "outer", "rows"]


# ============================================================================ vector expressions
def _tlabel(t: int, k: int, letter: str | None = "t") -> str:
    if letter is None:                # absolute steps: s_{3}
        return str(t)
    off = t - k
    return letter if off == 0 else f"{letter}{off:+d}"


def _base_tex(base: str) -> tuple[str, str]:
    """(letter, superscript label) of a base name: s -> (s, ''), delta_c -> (\\delta, c),
    delta_a_i -> (\\delta, a_i), STM -> (\\mathrm{STM}, '')."""
    head, _, label = base.partition("_")
    if head == "delta":
        if len(label) > 1 and "_" not in label:
            label = rf"\mathrm{{{label}}}"
        return r"\delta", label
    if len(head) > 1:
        head = rf"\mathrm{{{head}}}"
    return head, label


class VExpr:
    """A vector (or, for gradients, matrix) expression of one time step. ``size`` is its length."""

    prec = 9          # 9 atom; 4 product W v; 3 ⊙; 2 sum; 1 (1 − x) written as a sum
    size = 0

    def ev(self, env):  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def tex(self, k: int, letter: str = "t") -> str:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def wrap(self, k, letter, below: int) -> str:
        s = self.tex(k, letter)
        return rf"\left({s}\right)" if self.prec < below else s

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.tex(0, 'k')})"


@dataclass(repr=False, eq=False)
class Var(VExpr):
    """The vector ``base`` at step ``t`` (s_t, c_t, a gate i_t, x_t, d_t, y_t, an adjoint δ_t)."""

    base: str
    t: int
    size: int

    def ev(self, env):
        return env[(self.base, self.t)]

    def tex(self, k, letter="t"):
        head, label = _base_tex(self.base)
        sup = f"^{{{label}}}" if label else ""
        return f"{head}{sup}_{{{_tlabel(self.t, k, letter)}}}"

    def key(self):
        return (self.base, self.t)


@dataclass(repr=False, eq=False)
class Param(VExpr):
    """A parameter (``W_s``), or its rows ``lo:hi`` (a gate's block ``W_{si}``, named ``gate``)."""

    name: str
    shape: tuple
    lo: int = 0
    hi: int | None = None
    gate: str | None = None

    @property
    def size(self):
        hi = self.shape[0] if self.hi is None else self.hi
        return hi - self.lo

    def ev(self, env):
        a = env[self.name]
        return a if self.hi is None and self.lo == 0 else a[self.lo:self.hi]

    def tex(self, k, letter="t"):
        head, _, label = self.name.partition("_")
        sub = label + (self.gate or "")
        if self.gate is None and (self.lo or self.hi is not None):
            return rf"{head}_{{{label}}}[{self.lo + 1}{{:}}{self.hi}]"
        return f"{head}_{{{sub}}}" if sub else head


@dataclass(repr=False, eq=False)
class Const(VExpr):
    value: float
    size: int = 1

    def ev(self, env):
        return np.full(self.size, self.value) if self.size > 1 else np.float64(self.value)

    def tex(self, k, letter="t"):
        v = self.value
        return str(int(v)) if v == int(v) else f"{v:g}"


@dataclass(repr=False, eq=False)
class Zero(VExpr):
    size: int = 1

    def ev(self, env):
        return np.zeros(self.size)

    def tex(self, k, letter="t"):
        return "0"


@dataclass(repr=False, eq=False)
class Add(VExpr):
    terms: list
    prec = 2

    @property
    def size(self):
        return max(t.size for t in self.terms)

    def ev(self, env):
        out = self.terms[0].ev(env)
        for t in self.terms[1:]:
            out = out + t.ev(env)
        return out

    def tex(self, k, letter="t"):
        parts = []
        for i, t in enumerate(self.terms):
            if isinstance(t, Neg):
                parts.append(("- " if i else "-") + t.x.wrap(k, letter, 3))
            else:
                parts.append(("+ " if i else "") + t.tex(k, letter))
        return " ".join(parts)


@dataclass(repr=False, eq=False)
class Neg(VExpr):
    x: VExpr
    prec = 2

    @property
    def size(self):
        return self.x.size

    def ev(self, env):
        return -self.x.ev(env)

    def tex(self, k, letter="t"):
        return "-" + self.x.wrap(k, letter, 3)


@dataclass(repr=False, eq=False)
class OneMinus(VExpr):
    """``1 − x``."""

    x: VExpr
    prec = 2

    @property
    def size(self):
        return self.x.size

    def ev(self, env):
        return 1.0 - self.x.ev(env)

    def tex(self, k, letter="t"):
        return "1 - " + self.x.wrap(k, letter, 3)


@dataclass(repr=False, eq=False)
class Scale(VExpr):
    """``c · x`` for a number c written as a fraction (2/O for the mean squared error)."""

    num: int
    den: int
    x: VExpr
    prec = 4

    @property
    def size(self):
        return self.x.size

    def ev(self, env):
        return (self.num / self.den) * self.x.ev(env)

    def tex(self, k, letter="t"):
        return rf"\tfrac{{{self.num}}}{{{self.den}}}\,{self.x.wrap(k, letter, 9)}"


@dataclass(repr=False, eq=False)
class Had(VExpr):
    """The element-wise product ``a ⊙ b ⊙ …``."""

    factors: list
    prec = 3

    @property
    def size(self):
        return max(f.size for f in self.factors)

    def ev(self, env):
        out = self.factors[0].ev(env)
        for f in self.factors[1:]:
            out = out * f.ev(env)
        return out

    def tex(self, k, letter="t"):
        return r" \odot ".join(f.wrap(k, letter, 5) for f in self.factors)


@dataclass(repr=False, eq=False)
class Sq(VExpr):
    """The element-wise square ``x²``."""

    x: VExpr
    prec = 9

    @property
    def size(self):
        return self.x.size

    def ev(self, env):
        v = self.x.ev(env)
        return v * v

    def tex(self, k, letter="t"):
        if isinstance(self.x, Func):
            return self.x.tex(k, letter, power=2)
        if isinstance(self.x, Sq):
            return rf"\left({self.x.tex(k, letter)}\right)^{{2}}"
        return f"{self.x.wrap(k, letter, 9)}^{{2}}"


_FUNC_TEX = {"tanh": r"\tanh", "sigmoid": r"\sigma", "softmax": r"\operatorname{softmax}", "exp": r"\exp"}


def _softmax(v):
    e = np.exp(v - np.max(v))
    return e / e.sum()


_FUNC_NP = {"tanh": np.tanh, "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)), "softmax": _softmax, "exp": np.exp}


@dataclass(repr=False, eq=False)
class Func(VExpr):
    """An element-wise function (tanh, σ) or the softmax of a vector."""

    name: str
    x: VExpr
    prec = 9

    @property
    def size(self):
        return self.x.size

    def ev(self, env):
        return _FUNC_NP[self.name](self.x.ev(env))

    def tex(self, k, letter="t", power=None):
        f = _FUNC_TEX[self.name] + (f"^{{{power}}}" if power else "")
        return rf"{f}\left({self.x.tex(k, letter)}\right)"


@dataclass(repr=False, eq=False)
class MatVec(VExpr):
    """``M v`` or ``Mᵀ v`` for a parameter (or parameter block) M."""

    m: Param
    v: VExpr
    transpose: bool = False
    prec = 4

    @property
    def size(self):
        return self.m.shape[1] if self.transpose else self.m.size

    def ev(self, env):
        m = self.m.ev(env)
        return (m.T if self.transpose else m) @ self.v.ev(env)

    def tex(self, k, letter="t"):
        m = self.m.tex(k, letter) + (r"^{\top}" if self.transpose else "")
        return f"{m} {self.v.wrap(k, letter, 9)}"


@dataclass(repr=False, eq=False)
class Outer(VExpr):
    """``a bᵀ`` (a gradient of a weight matrix)."""

    a: VExpr
    b: VExpr
    prec = 4

    @property
    def size(self):
        return self.a.size

    def ev(self, env):
        return np.outer(self.a.ev(env), self.b.ev(env))

    def tex(self, k, letter="t"):
        b = self.b.tex(k, letter)
        b = rf"\left({b}\right)" if self.b.prec < 9 else b
        return rf"{self.a.wrap(k, letter, 9)}\, {b}^{{\top}}"


@dataclass(repr=False, eq=False)
class Stack(VExpr):
    """``[a; b; …]``: consecutive blocks of one vector (gates) or a concatenation ([s_{t−1}; x_t])."""

    parts: list
    prec = 9

    @property
    def size(self):
        return sum(p.size for p in self.parts)

    def ev(self, env):
        return np.concatenate([np.atleast_1d(p.ev(env)) for p in self.parts])

    def tex(self, k, letter="t"):
        return r"\left[" + r";\, ".join(p.tex(k, letter) for p in self.parts) + r"\right]"


@dataclass(repr=False, eq=False)
class Slice(VExpr):
    """Rows ``lo:hi`` of a vector that has no named blocks there: ``[v]_{lo+1:hi}``."""

    x: VExpr
    lo: int
    hi: int
    H: int = 0
    prec = 9

    @property
    def size(self):
        return self.hi - self.lo

    def ev(self, env):
        return self.x.ev(env)[self.lo:self.hi]

    def tex(self, k, letter="t"):
        def n(v):
            if self.H and v % self.H == 0:
                m = v // self.H
                return "H" if m == 1 else f"{m}H"
            return str(v)

        first = "1" if self.lo == 0 else (f"{n(self.lo)}+1")
        return rf"\left[{self.x.tex(k, letter)}\right]_{{{first}:{n(self.hi)}}}"


# --------------------------------------------------------------------------------- construction
def add(*terms):
    """The sum of ``terms`` (flattened; zeros dropped)."""
    flat = []
    for t in terms:
        if isinstance(t, Zero):
            continue
        flat.extend(t.terms if isinstance(t, Add) else [t])
    if not flat:
        return Zero(max((t.size for t in terms), default=1))
    return flat[0] if len(flat) == 1 else Add(flat)


def neg(x):
    if isinstance(x, Zero):
        return x
    return x.x if isinstance(x, Neg) else Neg(x)


def had(*factors):
    """The element-wise product (flattened; a zero factor makes it zero)."""
    flat = []
    for f in factors:
        if isinstance(f, Zero):
            return Zero(max(g.size for g in factors))
        if isinstance(f, Const) and f.value == 1:
            continue
        flat.extend(f.factors if isinstance(f, Had) else [f])
    if not flat:
        return Const(1.0)
    return flat[0] if len(flat) == 1 else Had(flat)


def matvec(m, v, transpose=False):
    if isinstance(v, Zero):
        return Zero(m.shape[1] if transpose else m.size)
    if transpose and isinstance(v, Stack) and m.gate is None and m.lo == 0 and m.hi is None:
        # Wᵀ [δ_i; δ_f; …] = Σ_g W_gᵀ δ_g (the per-gate blocks of a stacked weight)
        blocks, lo = [], 0
        for p in v.parts:
            blocks.append(matvec(_rows_param(m, lo, lo + p.size), p, True))
            lo += p.size
        if all(isinstance(b, MatVec) and b.m.gate for b in blocks if not isinstance(b, Zero)):
            return add(*blocks)
    return MatVec(m, v, transpose)


def outer(a, b):
    if isinstance(a, Zero):
        return a
    return Outer(a, b)


@dataclass
class _Blocks:
    """How a stacked parameter's rows are named: ``gates`` in order, each ``H`` rows."""

    gates: tuple
    H: int


#: the gate blocks of the derivation being built (the cell's gate order and H), set by matrix_form
_GATE_BLOCKS: ContextVar = ContextVar("gradlab_gate_blocks", default=None)


def _rows_param(p: Param, lo: int, hi: int):
    """Rows lo:hi of a parameter: a named gate block where they are one, a stack of blocks where they
    span several, else a plain row range."""
    base = p.lo
    lo, hi = lo + base, hi + base
    blk = _GATE_BLOCKS.get()
    n = p.shape[0]
    if blk is not None and p.gate is None and n == len(blk.gates) * blk.H and lo % blk.H == 0 and hi % blk.H == 0:
        parts = [Param(p.name, p.shape, j * blk.H, (j + 1) * blk.H, blk.gates[j]) for j in range(lo // blk.H, hi // blk.H)]
        return parts[0] if len(parts) == 1 else Stack(parts)
    return Param(p.name, p.shape, lo, hi, None)


def rows(e: VExpr, lo: int, hi: int, H: int = 0) -> VExpr:
    """Rows ``lo:hi`` of ``e``, pushed inside sums, products and functions down to the named blocks."""
    if lo == 0 and hi == e.size:
        return e
    if isinstance(e, Zero):
        return Zero(hi - lo)
    if isinstance(e, Const):
        return Const(e.value, hi - lo)
    if isinstance(e, Add):
        parts = [rows(t, lo, hi, H) for t in e.terms]
        if any(isinstance(p, Slice) for p in parts):      # [W_nᵀ δ_n + W_iᵀ δ_i]_{1:H}, not a sum of slices
            return Slice(e, lo, hi, H)
        return add(*parts)
    if isinstance(e, Had):
        return had(*[rows(f, lo, hi, H) if f.size > 1 or e.size == 1 else f for f in e.factors])
    if isinstance(e, (Neg, OneMinus, Sq)):
        return type(e)(rows(e.x, lo, hi, H))
    if isinstance(e, Func) and e.name != "softmax":
        inner = rows(e.x, lo, hi, H)
        if isinstance(inner, Stack):
            return Stack([Func(e.name, p) for p in inner.parts])
        return Func(e.name, inner)
    if isinstance(e, Scale):
        return Scale(e.num, e.den, rows(e.x, lo, hi, H))
    if isinstance(e, Param) and len(e.shape) == 1:
        return _rows_param(e, lo, hi)
    if isinstance(e, MatVec) and not e.transpose:
        m = _rows_param(e.m, lo, hi)
        if isinstance(m, Stack):
            return Stack([MatVec(p, e.v) for p in m.parts])
        return MatVec(m, e.v)
    if isinstance(e, Outer):
        return outer(rows(e.a, lo, hi, H), e.b)
    if isinstance(e, Stack):
        out, off = [], 0
        for p in e.parts:
            a, b = max(lo, off), min(hi, off + p.size)
            if a < b:
                out.append(rows(p, a - off, b - off, H))
            off += p.size
        flat = []
        for p in out:
            flat.extend(p.parts if isinstance(p, Stack) else [p])
        return flat[0] if len(flat) == 1 else Stack(flat)
    return Slice(e, lo, hi, H)


def _stack_or_add(pieces, size, H):
    """Assemble an adjoint from contributions ``(lo, hi, expr)`` to rows of a vector of ``size``."""
    if all(lo == 0 and hi == size for lo, hi, _ in pieces):
        return add(*[e for _, _, e in pieces])
    cuts = sorted({0, size} | {lo for lo, _, _ in pieces} | {hi for _, hi, _ in pieces})
    parts = []
    for a, b in zip(cuts, cuts[1:]):
        terms = [rows(e, a - lo, b - lo, H) for lo, hi, e in pieces if lo <= a and b <= hi]
        parts.append(add(*terms) if terms else Zero(b - a))
    flat = []
    for p in parts:
        flat.extend(p.parts if isinstance(p, Stack) else [p])
    return flat[0] if len(flat) == 1 else Stack(flat)


# ============================================================================ the rule tables
def _fwd_linear(x, w, b=None):
    return add(matvec(w, x), b) if b is not None else matvec(w, x)


def _fwd_sub(a, b):
    if isinstance(a, Const) and a.value == 1:
        return OneMinus(b)
    return add(a, neg(b))


FORWARD = {
    "linear": _fwd_linear,
    "add": lambda a, b: add(a, b),
    "sub": _fwd_sub,
    "mul": lambda a, b: had(a, b),
    "tanh": lambda x: Func("tanh", x),
    "sigmoid": lambda x: Func("sigmoid", x),
    "concat": lambda *xs, **kw: Stack(list(xs)),
}


def _vjp_linear(g, out, x, w, b=None):
    return [matvec(w, g, True), outer(g, x), g]


#: The vector-level VJP rules: ``rule(g, out, *inputs) -> [adjoint contribution per input]``, with
#: ``g`` the adjoint of the op's output, ``out`` its value and ``inputs`` its operands (all VExprs).
RULES = {
    "linear": _vjp_linear,
    "add": lambda g, out, a, b: [g, g],
    "sub": lambda g, out, a, b: [g, neg(g)],
    "mul": lambda g, out, a, b: [had(g, b), had(g, a)],
    "tanh": lambda g, out, x: [had(g, OneMinus(Sq(out)))],
    "sigmoid": lambda g, out, x: [had(g, out, OneMinus(out))],
    "concat": None,      # rows of g, see _reverse
    "getitem": None,     # g placed in the rows it was cut from, see _reverse
}


#: ∂E_t/∂y_t for each loss (d_t a probability vector for the cross-entropy)
def _loss_grad(loss: str, y: VExpr, d: VExpr, O: int):
    if loss == "mse_half":
        return add(y, neg(d))
    if loss == "mse":
        return Scale(2, O, add(y, neg(d))) if O > 1 else Scale(2, 1, add(y, neg(d)))
    if loss == "softmax_cross_entropy":
        return add(Func("softmax", y), neg(d))
    raise ValueError(f"matrix form: no rule for the loss {loss!r}")


# ============================================================================== the derivation
@dataclass
class MatrixForm:
    r"""The matrix-form derivation of one :class:`~gradlab.symbolic.model.SymbolicModel`:
    ``forward`` [(Var, VExpr)] and ``backward`` [(Var, VExpr)] definitions of every step in evaluation
    order, ``grads`` {parameter name: [(t, rows lo, hi, VExpr)]} the per-step terms of ∂E/∂W,
    ``blocks`` {parameter name: [(gate, lo, hi)]} the named row blocks of stacked weights."""

    model: object
    forward: list
    backward: list
    grads: dict
    leaves: dict
    outputs: dict
    blocks: dict = field(default_factory=dict)
    _adjoint_of: dict = field(default_factory=dict)

    # ---------------------------------------------------------------------------- numbers
    def evaluate(self, values: dict | None = None) -> tuple[dict, dict]:
        """Return (env, grads): every defined vector of every step, {(base, t): array}, and
        {parameter name: ∂E/∂W}, evaluated with NumPy at ``values`` (the model's point)."""
        m = self.model
        values = m.values if values is None else values
        env = {n: np.asarray(values[n], dtype=np.float64) for n in m.params}
        for key, (vname, row) in self.leaves.items():
            a = np.asarray(values[vname], dtype=np.float64)
            env[key] = a if row is None else np.atleast_1d(a[row])
        for var, e in self.forward:
            env[var.key()] = e.ev(env)
        for var, e in self.backward:
            env[var.key()] = np.asarray(e.ev(env), dtype=np.float64) * np.ones(var.size)
        grads = {}
        for name, terms in self.grads.items():
            shape = np.shape(values[name])
            g = np.zeros(shape)
            for _, lo, hi, e in terms:
                v = e.ev(env)
                g[lo:hi] += np.reshape(v, g[lo:hi].shape)
            grads[name] = g
        return env, grads

    def check(self, seeds=(0, 1), rtol: float = 1e-9, atol: float = 1e-12) -> float:
        r"""Evaluate the matrix form at random points and compare (a) every output y_t with the engine's
        forward pass and (b) every ∂E/∂W with the engine's reverse mode; return the largest difference,
        raise ``ValueError`` naming the parameter and element where it exceeds ``atol + rtol·|engine|``."""
        m = self.model
        worst = 0.0
        for seed in seeds:
            vals = m.random_values(seed)
            env, got = self.evaluate(vals)
            ref = m.engine_gradient(vals)
            fwd = m.engine_forward(vals)
            for (base, t), node_val in fwd.items():
                if (base, t) in env:
                    diff = np.abs(np.asarray(env[(base, t)]) - node_val)
                    if (diff > atol + rtol * np.abs(node_val)).any():
                        raise ValueError(f"matrix form of {m.kind}: the forward value of {base}_{t} differs from "
                                         f"the engine's by {diff.max():.3g} (seed {seed})")
            worst = max(worst, compare_with_engine(got, ref, f"matrix form of {m.kind}", seed, rtol, atol))
        return worst


    # ---------------------------------------------------------------------------- printing
    def _runs(self, items, tex_of):
        """Group [(t, …)] into runs of consecutive steps that print the same around their own t."""
        runs = []
        for t, item in items:
            s = tex_of(item, t)
            if runs and runs[-1][2] == s and runs[-1][1] == t - 1:
                runs[-1][1] = t
            else:
                runs.append([t, t, s, item])
        return runs

    def templates(self, defs) -> list:
        """Return [(base, first t, last t, lhs, rhs)]: the definitions of ``defs`` grouped by base into
        runs of consecutive steps whose printed form, relabelled around each step, is the same."""
        by_base: dict = {}
        for var, e in defs:
            by_base.setdefault(var.base, []).append((var.t, (var, e)))
        out = []
        T = self.model.T
        for base, items in by_base.items():
            items.sort(key=lambda it: it[0])
            runs = self._runs(items, lambda it, t: it[1].tex(t))
            runs.sort(key=lambda r: -r[1] if r[1] == T else r[0])      # the last step first, as lectures do
            for first, last, s, (var, e) in runs:
                out.append((base, first, last, var, e))
        return out

    def forward_rows(self) -> list:
        r"""The forward pass at a generic step t, in vector form: gates in the cell's order, then the
        state, then the output (``i_t = σ(W_{xi} x_t + W_{si} s_{t−1} + b_{si})``, …)."""
        from ..nn.registry import KINDS

        T = self.model.T
        k = max(1, T - 1)
        gates = KINDS[self.model.kind].gates
        kinds = {d.base: d.kind for d in self.model.trace.forward.definitions}
        chosen = {}
        for var, e in self.forward:
            if var.t == k and var.base not in chosen:
                chosen[var.base] = e

        def key(base):
            kd = kinds.get(base, "output")
            if kd == "gate":
                return (0, gates.index(base) if base in gates else len(gates))
            return (1 if kd == "state" else 2, 0)
        order = sorted(chosen, key=key)
        return [f"{Var(b, k, 1).tex(k)} &= {_lecture_order(chosen[b]).tex(k)}" for b in order]

    def blocks_rows(self) -> list:
        r"""How stacked weights are cut into per-gate blocks: ``W_s = [W_{si}; W_{sf}; …]``."""
        rows = []
        for name, bl in self.blocks.items():
            shape = np.shape(self.model.values[name])
            whole = Param(name, shape).tex(0)
            parts = r";\, ".join(Param(name, shape, lo, hi, g).tex(0) for lo, hi, g in bl)
            rows.append(rf"{whole} &= \left[{parts}\right]")
        return rows

    def backward_rows(self, compact: bool = False) -> list:
        r"""The backward recursion in vector form: each named adjoint at the last step and at a generic
        step (with its range where the steps differ), then ∂E/∂W as a sum over steps, one row per
        parameter block. ``compact=True`` (for slides) writes the rows that are the same for every gate
        once, with the gate as ``k``: ``∂E/∂W_{sk} = Σ_t δ^{a_k}_t s_{t−1}ᵀ, k ∈ {i, f, g, o}``."""
        T = self.model.T
        rows = []
        grad_rows: list = []
        for base, first, last, var, e in sorted(self.templates(self.backward), key=lambda r: self._order(r[0])):
            if first == last == T:
                lhs, rhs = var.tex(T, "T"), e.tex(T, "T")
                rows.append(f"{lhs} &= {rhs}")
            elif first == last:
                rows.append(f"{var.tex(first, None)} &= {e.tex(first, None)}")
            else:
                rng = _range_tex(first, last, T)
                rows.append(f"{var.tex(first)} &= {e.tex(first)},\\quad {rng}")
        for name, terms in self.grads.items():
            for lo, hi, gate in self._param_blocks(name):
                merged = _merge_steps([(t, e) for t, a, b, e in terms if (a, b) == (lo, hi)])
                p = self.model_param(name, lo, hi, gate)
                lhs = rf"\frac{{\partial E}}{{\partial {p.tex(0)}}}"
                pieces = []
                for first, last, _, e in self._runs(merged, lambda e, t: e.tex(t)):
                    if first == last:
                        pieces.append(e.tex(T, "T") if first == T else e.tex(first, None))
                    else:
                        body = e.tex(first)
                        body = rf"\left({body}\right)" if e.prec < 4 else body
                        a_t = str(first)
                        b_t = {T: "T", T - 1: "T-1"}.get(last, str(last))
                        pieces.append(rf"\sum_{{t={a_t}}}^{{{b_t}}} {body}")
                grad_rows.append((name, gate, f"{lhs} &= {' + '.join(pieces) if pieces else '0'}"))
        if not compact:
            return rows + [r for _, _, r in grad_rows]
        return rows + _compact_gate_rows(grad_rows)

    def _order(self, base: str) -> tuple:
        """Sort key of an adjoint: the states' adjoints first (as derived), then the gates' in gate order."""
        from ..nn.registry import KINDS

        if not base.startswith("delta_a_"):
            return (0, 0)
        gates = KINDS[self.model.kind].gates
        g = base[len("delta_a_"):]
        return (1, gates.index(g) if g in gates else len(gates))

    def _param_blocks(self, name):
        return self.blocks.get(name) or [(0, self.model.values[name].shape[0], None)]

    def model_param(self, name, lo, hi, gate):
        shape = np.shape(self.model.values[name])
        if gate is None:
            return Param(name, shape)
        return Param(name, shape, lo, hi, gate)

    def definitions_rows(self) -> list:
        r"""What the named adjoints stand for, in two rows at most: ``δ_t := ∂E/∂s_t, δ^c_t := ∂E/∂c_t``
        for the parts of the state, and ``δ^{a_k}_t := ∂E/∂a^k_t, k ∈ {i, f, g, o}`` for the gates'
        pre-activations (a^k_t, the argument of gate k's σ or tanh)."""
        states, gates = [], []
        seen = set()
        for var, _ in sorted(self.backward, key=lambda ve: self._order(ve[0].base)):
            if var.base in seen:
                continue
            seen.add(var.base)
            if var.base.startswith("delta_a_"):
                gates.append(var.base[len("delta_a_"):])
            else:
                what = self._adjoint_of.get(var.base, "")
                states.append(rf"{Var(var.base, 0, 1).tex(0)} := \partial E / \partial {what}")
        rows = []
        if states:
            lhs, _, rhs = states[0].partition(" := ")
            rows.append(f"{lhs} &:= {rhs}" + "".join(rf",\quad {x}" for x in states[1:]))
        if gates:
            rows.append(r"\delta^{a_k}_{t} &:= \partial E / \partial a^{k}_{t},\quad k \in \{"
                        + ", ".join(gates) + r"\}\quad \text{(the argument of gate } k\text{)}")
        return rows


def _compact_gate_rows(grad_rows) -> list:
    """Merge the gradient rows of one stacked parameter whose text is the same for every gate once the
    gate's letter is written k (W_{si} -> W_{sk}, δ^{a_i} -> δ^{a_k})."""
    out, i = [], 0
    while i < len(grad_rows):
        name, gate, row = grad_rows[i]
        group = [(g, r) for n, g, r in grad_rows[i:] if n == name] if gate else []
        i += max(1, len(group))
        if not gate:
            out.append(row)
            continue
        label = name.partition("_")[2]

        def generic(r, g):
            return r.replace(f"_{{{label}{g}}}", f"_{{{label}k}}").replace(f"^{{a_{g}}}", "^{a_k}")
        texts = {generic(r, g) for g, r in group}
        if len(texts) == 1 and len(group) > 1:
            out.append(texts.pop() + r",\quad k \in \{" + ", ".join(g for g, _ in group) + r"\}")
        else:
            out.extend(r for _, r in group)
    return out


def _range_tex(first, last, T):
    a = "1" if first == 1 else str(first)
    b = {T: "T", T - 1: "T-1", T - 2: "T-2"}.get(last, str(last))
    return rf"1 \le t \le {b}" if first == 1 else rf"{a} \le t \le {b}"


def _lecture_order(e):
    """The same expression with sums ordered as a lecture writes them: W_x x_t, then W_s s_{t−1}, then
    the biases, then the rest (printing only: the value does not change)."""
    if isinstance(e, Add):
        terms = [_lecture_order(t) for t in e.terms]

        def key(t):
            if isinstance(t, MatVec) and isinstance(t.v, Var) and t.v.base == "x":
                return 0
            if isinstance(t, MatVec):
                return 1
            if isinstance(t, Param):
                return 2
            return 3
        return Add(sorted(terms, key=key))
    if isinstance(e, Func):
        return Func(e.name, _lecture_order(e.x))
    if isinstance(e, Had):
        return Had([_lecture_order(f) for f in e.factors])
    if isinstance(e, MatVec):
        return MatVec(e.m, _lecture_order(e.v), e.transpose)
    return e


def _merge_steps(items):
    """Sum the terms of one step into one expression: [(t, e)] -> [(t, e_t)] sorted by t."""
    by_t: dict = {}
    for t, e in items:
        by_t.setdefault(t, []).append(e)
    return [(t, add(*es)) for t, es in sorted(by_t.items(), key=lambda kv: kv[0])]


# ============================================================================== the reverse pass
def matrix_form(model, rules: dict | None = None) -> MatrixForm:
    r"""Return the :class:`MatrixForm` of ``model`` (a :class:`~gradlab.symbolic.model.SymbolicModel`):
    its recorded graph replayed on vector expressions and differentiated with ``rules`` (default
    :data:`RULES`; a test passes a wrong one to see the check fail)."""
    from ..nn.registry import KINDS

    rules = RULES if rules is None else rules
    graph, tr = model.graph, model.trace
    H = model.sizes["H"]
    kind = KINDS[model.kind]
    token = _GATE_BLOCKS.set(_Blocks(kind.gates, H) if kind.gates else None)
    try:
        return _matrix_form(model, rules, graph, tr, H)
    finally:
        _GATE_BLOCKS.reset(token)


def _matrix_form(model, rules, graph, tr, H):
    named: dict = {}            # node -> [(base, kind, t)] (a tuple of gates for σ([a_r; a_z]))
    for d in tr.forward.definitions:
        if d.node is not None:
            named.setdefault(d.node, []).append((d.base, d.kind, d.t))
    outputs = dict(model.output_nodes)          # t -> y_t node
    out_nodes = {n: t for t, n in outputs.items()}
    vals: dict = {}
    leaves: dict = {}
    forward: list = []
    param_of = {leaf: name for name, leaf in model.params.items()}
    leaf_name = model.leaf_names
    time_leaf = {"xs": "x", "ds": "d"}
    nodes = list(graph.nodes)
    # the loss part of the graph (recorded outside any step): handled by the loss rule at each y_t
    stop = {n for n in nodes if n.op is not None and n.scope.t is None and n not in out_nodes}

    for n in nodes:
        if n in stop:
            continue
        if n.op is None:
            if n in param_of:
                vals[n] = Param(param_of[n], tuple(n.shape))
            elif n in leaf_name:
                nm = leaf_name[n]
                if nm in time_leaf:
                    vals[n] = ("series", nm)
                else:                                    # s_0, c_0, y_0, d (many-to-one)
                    base, t = (nm[:-2], 0) if nm.endswith("_0") else ("d", model.T)
                    v = Var(base, t, int(np.prod(n.shape)) if n.shape else 1)
                    leaves[v.key()] = (nm, None)
                    vals[n] = v
            else:
                data = np.asarray(n.data, dtype=np.float64)
                vals[n] = Const(float(data.flat[0]), data.size) if data.size and np.all(data == data.flat[0]) \
                    else ("array", data)
            continue
        ins = [vals.get(p) for p in n.parents]
        op = n.op.name
        if op == "getitem" and isinstance(ins[0], tuple) and ins[0][0] == "series":
            key = n.attrs["key"]
            t = int(key if not isinstance(key, tuple) else key[0]) + 1
            base = time_leaf[ins[0][1]]
            v = Var(base, t, int(np.prod(n.shape)) if n.shape else 1)
            leaves[v.key()] = (ins[0][1], t - 1)
            vals[n] = v
            continue
        if op == "getitem":
            lo, hi = _slice_of(n)
            expr = rows(ins[0], lo, hi, H)
        elif op in FORWARD:
            if any(isinstance(i, tuple) or i is None for i in ins):
                raise ValueError(f"matrix form: {op} at {n.scope} reads a value the vector form cannot name")
            expr = FORWARD[op](*ins)
        else:
            raise ValueError(f"matrix form: no vector rule for the op {op!r} (at {n.scope}); the element form "
                             f"(form='recursion') still covers it")
        if n in named or n in out_nodes:
            names = named.get(n) or [("y", "output", out_nodes[n])]
            size = int(np.prod(n.shape)) if n.shape else 1
            if len(names) == 1:
                base, _, t = names[0]
                v = Var(base, t, size)
                forward.append((v, expr))
            else:
                blk = size // len(names)
                parts = []
                for j, (base, _, t) in enumerate(names):
                    v = Var(base, t, blk)
                    forward.append((v, rows(expr, j * blk, (j + 1) * blk, H)))
                    parts.append(v)
                v = Stack(parts)
            vals[n] = v
        else:
            vals[n] = expr

    # ------------------------------------------------------------------------- reverse
    adj_names = dict(model.adjoints)                 # state node -> delta base
    gate_pre: dict = {}                              # pre-activation node -> [gate bases]
    for n, names in named.items():
        if names[0][1] == "gate" and n.parents:
            gate_pre[n.parents[0]] = [b for b, _, _ in names]
    pieces: dict = {}                                # node -> [(lo, hi, expr)]
    ybar = {}
    loss = model.spec.loss
    O = model.sizes["O"]
    for t, y in outputs.items():
        d = Var("d", t, O)
        if ("d", t) not in leaves:
            leaves[("d", t)] = ("ds", t - 1) if model.spec.mode == "many_to_many" else ("d", None)
        g = _loss_grad(loss, vals[y], d, O)
        ybar[t] = g
        pieces.setdefault(y, []).append((0, O, g))
    backward: list = []
    grads: dict = {name: [] for name in model.params}
    adjoint_of: dict = {}

    for n in reversed(nodes):
        if n.op is None or n in stop or n not in pieces:
            continue
        size = int(np.prod(n.shape)) if n.shape else 1
        g = _stack_or_add(pieces.pop(n), size, H)
        t = n.scope.t
        if n in adj_names:
            base = adj_names[n]
            tt = named[n][0][2]
            v = Var(base, tt, size)
            backward.append((v, g))
            adjoint_of[base] = Var(named[n][0][0], 0, size).tex(0)
            g = v
        elif n in gate_pre:
            gates = gate_pre[n]
            blk = size // len(gates)
            parts = []
            for j, gate in enumerate(gates):
                base = f"delta_a_{gate}"
                v = Var(base, t, blk)
                backward.append((v, rows(g, j * blk, (j + 1) * blk, H) if len(gates) > 1 else g))
                adjoint_of[base] = rf"a^{{{gate}}}_{{t}}"
                parts.append(v)
            g = parts[0] if len(parts) == 1 else Stack(parts)
        op = n.op.name
        ins = [vals.get(p) for p in n.parents]
        if op == "getitem":
            lo, hi = _slice_of(n)
            p = n.parents[0]
            if p.op is not None and p not in stop and p.requires_grad:
                pieces.setdefault(p, []).append((lo, hi, g))
            continue
        if op == "concat":
            off = 0
            for p, v in zip(n.parents, ins):
                sz = v.size
                if p.requires_grad:
                    _give(p, off, off + sz, rows(g, off, off + sz, H), pieces, grads, param_of, t, model)
                off += sz
            continue
        rule = rules.get(op)
        if rule is None:
            raise ValueError(f"matrix form: no vector VJP rule for the op {op!r} (at {n.scope})")
        contribs = rule(g, vals[n], *ins)
        for p, c in zip(n.parents, contribs):
            if c is None or not p.requires_grad:
                continue
            psize = int(p.shape[0]) if p.shape else 1
            _give(p, 0, psize, c, pieces, grads, param_of, t, model)

    blocks = {}
    blk = _GATE_BLOCKS.get()
    if blk is not None:
        for name in model.params:
            shape = np.shape(model.values[name])
            if shape and shape[0] == len(blk.gates) * H and not name.endswith("_y"):
                blocks[name] = [(j * H, (j + 1) * H, g) for j, g in enumerate(blk.gates)]
    # split every gradient term into the parameter's named blocks
    split: dict = {}
    for name, terms in grads.items():
        out = []
        for t, lo, hi, e in terms:
            bl = blocks.get(name)
            if bl is None:
                out.append((t, lo, hi, e))
                continue
            for a, b, _ in bl:
                if lo <= a and b <= hi:
                    out.append((t, a, b, rows(e, a - lo, b - lo, H)))
        split[name] = [x for x in out if not isinstance(x[3], Zero)]
    return MatrixForm(model, forward, backward, split, leaves, outputs, blocks, adjoint_of)


def _give(p, lo, hi, c, pieces, grads, param_of, t, model):
    if isinstance(c, Zero):
        return
    if p in param_of:
        grads[param_of[p]].append((t, lo, hi, c))
    elif p.op is not None:
        pieces.setdefault(p, []).append((lo, hi, c))


def _slice_of(n) -> tuple[int, int]:
    key = n.attrs.get("key")
    key = key if isinstance(key, tuple) else (key,)
    sl = key[-1]
    size = n.parents[0].shape[-1]
    if not isinstance(sl, slice):
        raise ValueError(f"matrix form: getitem with key {key!r} at {n.scope} is not a block of rows")
    lo, hi, step = sl.indices(size)
    if step != 1:
        raise ValueError(f"matrix form: a strided slice at {n.scope}")
    return lo, hi


# ================================================================================ line breaking
_CMD = re.compile(r"\\(left|right|big|Big|bigg|Bigg)\b|\\[,;:!]|\\(operatorname|mathrm|text|tfrac|frac)\b")


def tex_width(s: str) -> float:
    r"""A rough width of a LaTeX maths string in characters of body text (sub/superscripts count
    two thirds, commands one, ``\left``/``\right`` nothing): enough to decide where to break."""
    s = _CMD.sub("", s)
    s = re.sub(r"\\[A-Za-z]+", "x", s)
    width, depth, sub = 0.0, 0, []
    i = 0
    while i < len(s):
        c = s[i]
        if c in "_^" and i + 1 < len(s) and s[i + 1] == "{":
            sub.append(depth + 1)
            i += 1
            depth += 1
        elif c == "{":
            depth += 1
        elif c == "}":
            if sub and sub[-1] == depth:
                sub.pop()
            depth -= 1
        elif c in "_^":
            pass
        elif c != " ":
            width += 0.65 if sub else (1.6 if c in "+-=" else 1.0)
        i += 1
    return width


def _tokens(rhs: str) -> list:
    r"""Split a LaTeX expression into top-level pieces: ``("op", "+")``/``("op", "-")`` for a sum's signs
    and ``("f", text)`` for each factor (a symbol with its scripts, a command with its arguments, or a
    ``\left( … \right)`` group), outside braces and delimiters."""
    out, i, n = [], 0, len(rhs)
    cur, depth = "", 0
    while i < n:
        if rhs.startswith(r"\left", i):
            depth += 1
            cur += r"\left"
            i += 5
            continue
        if rhs.startswith(r"\right", i):
            depth -= 1
            cur += r"\right"
            i += 6
            continue
        c = rhs[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        if depth == 0 and c == " ":
            if cur:
                out.append(("f", cur))
                cur = ""
            i += 1
            continue
        if depth == 0 and c in "+-" and not cur and i + 1 < n and rhs[i + 1] == " ":
            out.append(("op", c))
            i += 2
            continue
        cur += c
        i += 1
    if cur:
        out.append(("f", cur))
    return out


def _open_group(f: str):
    r"""``\\left(INNER\\right)`` -> INNER (else None)."""
    if (f.startswith(r"\left(") and f.endswith(r"\right)")) or (f.startswith(r"\left[") and f.endswith(r"\right]")):
        inner = f[6:-7]
        depth = 0
        for j in range(len(inner)):
            if inner.startswith(r"\left", j):
                depth += 1
            elif inner.startswith(r"\right", j):
                depth -= 1
                if depth < 0:
                    return None
        return inner
    return None


def _pieces(rhs: str, budget: float) -> list:
    r"""Break points of ``rhs``: a list of strings that may each start a new line. A sum breaks at its
    + and − first; only a term wider than ``budget`` is cut between its factors, and a bracket wider
    than ``budget`` is opened (its ``\\left(``/``\\right)`` become ``\\bigl(``/``\\bigr)``)."""
    terms, cur = [], [None, []]
    for kind, tok in _tokens(rhs):
        if kind == "op":
            if cur[1] or cur[0]:
                terms.append(cur)
            cur = [tok, []]
        else:
            cur[1].append(tok)
    if cur[1] or cur[0]:
        terms.append(cur)
    out = []
    for sign, factors in terms:
        head = f"{sign} " if sign else ""
        whole = head + " ".join(factors)
        if tex_width(whole) <= budget:
            out.append(whole)
            continue
        first = True
        for tok in factors:
            inner = _open_group(tok) if tex_width(tok) > budget else None
            if inner is not None:
                sub = _pieces(inner, budget)
                if sub:
                    o, c = (r"\bigl(", r"\bigr)") if tok.startswith(r"\left(") else (r"\bigl[", r"\bigr]")
                    sub[0] = (head if first else "") + o + sub[0]
                    sub[-1] = sub[-1] + c
                    out.extend(sub)
                    first = False
                    continue
            out.append((head if first else "") + tok)
            first = False
    return out


def break_rows(rows: list, width: float = 52.0) -> list:
    r"""Return ``rows`` (``lhs &= rhs`` strings of an ``align*``) with every right-hand side wider than
    ``width`` broken onto continuation rows ``&\quad …``: at its top-level + and − where it can, between
    the factors of a long product, and inside a long bracket (written ``\bigl( … \bigr)`` then)."""
    out = []
    for row in rows:
        lhs, sep, rhs = row.partition("&=")
        if not sep or tex_width(lhs) + tex_width(rhs) <= width:
            out.append(row)
            continue
        budget = width - min(tex_width(lhs), width / 3) - 4
        pieces = _pieces(rhs.strip(), budget)
        lines, cur = [], ""
        for p in pieces:
            joiner = "" if cur.endswith((r"\bigl(", r"\bigl[")) or not cur else " "
            cand = cur + joiner + p
            if cur and tex_width(cand) > budget and not cur.endswith((r"\bigl(", r"\bigl[")):
                lines.append(cur.rstrip())
                cur = p
            else:
                cur = cand
        lines.append(cur.rstrip())
        out.append(f"{lhs}&= {lines[0]}")
        for ln in lines[1:]:
            lead = "" if ln.startswith(("+", "-")) else r"\cdot "
            if ln.startswith(("+ ", "- ")) or ln.startswith(r"\bigr"):
                lead = ""
            out.append(rf"&\quad {lead}{ln}")
    return out


def compare_with_engine(got: dict, ref: dict, what: str, seed, rtol: float, atol: float) -> float:
    r"""Return max |got − ref| over the parameters in ``ref`` (the engine's gradients); raise ``ValueError``
    naming ``what``, the parameter and the first element where it exceeds ``atol + rtol·|ref|``."""
    worst = 0.0
    for name, r in ref.items():
        diff = np.abs(got[name] - r)
        bad = diff > atol + rtol * np.abs(r)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{what}: dE/d{name}{list(idx)} = {got[name][idx]!r} but the engine gives {r[idx]!r} "
                             f"(seed {seed})")
        worst = max(worst, float(diff.max()) if diff.size else 0.0)
    return worst
