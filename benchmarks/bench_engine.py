r"""Forward + backward of an unfolded Elman RNN: gradlab against a hand-written NumPy BPTT (the floor),
HIPS autograd and PyTorch (CPU, when installed), float64, one BLAS thread.

The network and loss (lecture notation, rows are batch items):

    s_t = tanh(W_x x_t + W_s s_{t-1} + b_s),   s_0 = 0
    y_t = W_y s_t + b_y
    E   = ½ Σ_t ‖y_t − d_t‖²

Every implementation's loss and gradients are checked against the floor's before anything is timed.
Run:  .venv/bin/python benchmarks/bench_engine.py  [--sizes small large] [--quick]
"""
from __future__ import annotations

import common  # noqa: F401  (first: pins BLAS to one thread before NumPy loads)

import numpy as np

import gradlab
from gradlab import nn

NAMES = ("W_x", "W_s", "b_s", "W_y", "b_y")


def make_problem(B, T, D, H, seed=0):
    """Return (parameters {name: array}, xs (T,B,D), ds (T,B,D)) with O = D, drawn from a seeded RNG."""
    rng = np.random.default_rng(seed)
    O = D
    p = {
        "W_x": rng.uniform(-1, 1, (H, D)) / np.sqrt(D),
        "W_s": rng.uniform(-1, 1, (H, H)) / np.sqrt(H),
        "b_s": rng.uniform(-0.1, 0.1, H),
        "W_y": rng.uniform(-1, 1, (O, H)) / np.sqrt(H),
        "b_y": rng.uniform(-0.1, 0.1, O),
    }
    xs = rng.standard_normal((T, B, D))
    ds = rng.standard_normal((T, B, O))
    return p, xs, ds


# --------------------------------------------------------------------------------------- floor
def numpy_floor(p, xs, ds):
    r"""Hand-written BPTT; the input and output projections of all steps are one matrix product each.

    Backward: δy_t = y_t − d_t; δs_t = W_yᵀδy_t + W_sᵀδa_{t+1}; δa_t = δs_t ⊙ (1 − s_t²);
    ∂E/∂W_s = Σ_t δa_t s_{t−1}ᵀ, ∂E/∂W_x = Σ_t δa_t x_tᵀ (each one product over all t).
    """
    Wx, Ws, bs, Wy, by = (p[n] for n in NAMES)
    T, B, D = xs.shape
    H, O = Ws.shape[0], Wy.shape[0]
    X = xs.reshape(T * B, D)
    d = ds.reshape(T * B, O)

    def run():
        A = (X @ Wx.T + bs).reshape(T, B, H)
        S = np.zeros((T + 1, B, H))
        WsT = Ws.T
        for t in range(T):
            np.tanh(A[t] + S[t] @ WsT, out=S[t + 1])
        Sf = S[1:].reshape(T * B, H)
        dY = Sf @ Wy.T + by
        dY -= d
        E = 0.5 * np.vdot(dY, dY)
        dS = (dY @ Wy).reshape(T, B, H)
        dA = np.empty((T, B, H))
        carry = None
        for t in range(T - 1, -1, -1):
            dh = dS[t] if carry is None else dS[t] + carry
            st = S[t + 1]
            np.multiply(dh, 1.0 - st * st, out=dA[t])
            if t:
                carry = dA[t] @ Ws
        dAf = dA.reshape(T * B, H)
        return E, {
            "W_x": dAf.T @ X,
            "W_s": dAf.T @ S[:-1].reshape(T * B, H),
            "b_s": dAf.sum(0),
            "W_y": dY.T @ Sf,
            "b_y": dY.sum(0),
        }

    return run


def numpy_stepwise(p, xs, ds):
    """Hand-written BPTT computing every projection step by step (no batching over time)."""
    Wx, Ws, bs, Wy, by = (p[n] for n in NAMES)
    T, B, D = xs.shape
    H = Ws.shape[0]

    def run():
        s = np.zeros((B, H))
        states, dys, E = [s], [], 0.0
        for t in range(T):
            s = np.tanh(xs[t] @ Wx.T + s @ Ws.T + bs)
            dy = s @ Wy.T + by - ds[t]
            E += 0.5 * np.vdot(dy, dy)
            states.append(s)
            dys.append(dy)
        g = {n: np.zeros_like(v) for n, v in p.items()}
        carry = np.zeros((B, H))
        for t in range(T - 1, -1, -1):
            s, dy = states[t + 1], dys[t]
            g["W_y"] += dy.T @ s
            g["b_y"] += dy.sum(0)
            da = (dy @ Wy + carry) * (1.0 - s * s)
            g["W_x"] += da.T @ xs[t]
            g["W_s"] += da.T @ states[t]
            g["b_s"] += da.sum(0)
            carry = da @ Ws
        return E, g

    return run


# ------------------------------------------------------------------------------------ references
def autograd_ref(p, xs, ds):
    """HIPS autograd on the same loss, written with the floor's batched projections (its best case)."""
    import autograd.numpy as anp

    T, B, D = xs.shape
    H, O = p["W_s"].shape[0], p["W_y"].shape[0]
    X, d = xs.reshape(T * B, D), ds.reshape(T * B, O)

    def loss(params):
        Wx, Ws, bs, Wy, by = params
        A = anp.reshape(anp.dot(X, Wx.T) + bs, (T, B, H))
        s, S = anp.zeros((B, H)), []
        for t in range(T):                      # indexing: a sparse VJP in autograd, faster than split here
            s = anp.tanh(A[t] + anp.dot(s, Ws.T))
            S.append(s)
        Y = anp.dot(anp.reshape(anp.stack(S), (T * B, H)), Wy.T) + by
        r = Y - d
        return 0.5 * anp.sum(r * r)

    return common.autograd_runner(loss, p, NAMES)


def torch_ref(p, xs, ds):
    """PyTorch eager (CPU, float64) on the same loss with batched projections; None when absent."""
    torch = common.optional("torch")
    if torch is None:
        return None
    T, B, D = xs.shape
    H, O = p["W_s"].shape[0], p["W_y"].shape[0]
    params = [torch.tensor(p[n], requires_grad=True) for n in NAMES]
    X = torch.tensor(xs.reshape(T * B, D))
    d = torch.tensor(ds.reshape(T * B, O))

    def run():
        Wx, Ws, bs, Wy, by = params
        A = (X @ Wx.T + bs).reshape(T, B, H)
        s, S = torch.zeros(B, H, dtype=torch.float64), []
        for a_t in A.unbind(0):                 # unbind: indexing's backward is a zero (T,B,H) tensor per step
            s = torch.tanh(a_t + s @ Ws.T)
            S.append(s)
        Y = torch.stack(S).reshape(T * B, H) @ Wy.T + by
        E = 0.5 * ((Y - d) ** 2).sum()
        g = torch.autograd.grad(E, params)
        return E.item(), {n: gi.numpy() for n, gi in zip(NAMES, g)}

    return run


# -------------------------------------------------------------------------------------- gradlab
def gradlab_cell_runner(cell, unroll, names, p, xs, ds, fused):
    r"""Return a callable running ``gradlab.nn.unroll(cell, xs, fused=fused)`` with E = ½ Σ_t ‖y_t − d_t‖²
    and backward, after loading the weights ``p`` into the cell's parameters (by lecture name).

    With ``fused=True`` the loss reads the (T, B, O) output sequence (one node); with ``fused=False`` it is
    summed step by step over the per-step outputs, the literal graph of the lecture."""
    params = cell.parameters_by_name()
    for n in names:
        if params[n].shape != p[n].shape:
            raise ValueError(f"gradlab {type(cell).__name__}: parameter {n} has shape {params[n].shape}, "
                             f"the benchmark's has {p[n].shape}")
        params[n].data = p[n].copy()
    X, d = gradlab.tensor(xs), gradlab.tensor(ds)
    T = xs.shape[0]

    def run():
        for q in params.values():
            q.grad = None
        out = unroll(cell, X, fused=fused)
        if fused:
            r = out.output_sequence - d
            E = 0.5 * (r * r).sum()
        else:
            E = 0.0
            for t, y in enumerate(out.outputs):
                r = y - d[t]
                E = E + 0.5 * (r * r).sum()
        E.backward()
        return E.item(), {n: params[n].grad for n in names}

    return run


def rnn_api(name):
    """Return ``(cell class, unroll)`` from ``gradlab.nn`` (or its cells/unroll modules), or None."""
    cls = getattr(nn, name, None)
    unroll = getattr(nn, "unroll", None)
    if cls is None or unroll is None:
        try:
            from gradlab.nn import cells, unroll as unroll_module
        except ImportError:
            return None
        cls, unroll = getattr(cells, name, None), getattr(unroll_module, "unroll", None)
    return None if cls is None or not callable(unroll) else (cls, unroll)


def gradlab_unroll(p, xs, ds, fused=True):
    """gradlab: ``ElmanCell`` unrolled with ``unroll(..., fused=fused)``; None before they exist."""
    api = rnn_api("ElmanCell")
    if api is None:
        return None
    D, H = xs.shape[2], p["W_s"].shape[0]
    return gradlab_cell_runner(api[0](D, H, D), api[1], NAMES, p, xs, ds, fused)


def gradlab_dense(p, xs, ds, fused=True):
    """gradlab built by hand from ``Dense`` layers (no cell class): with ``fused`` the input and output
    projections of all steps are one node each, otherwise every step records its own."""
    T, B, D = xs.shape
    H = p["W_s"].shape[0]
    inp = nn.Dense(D, H, name="input", weight_name="W_x", bias_name="b_s")
    rec = nn.Dense(H, H, bias=False, name="recurrent", weight_name="W_s")
    out = nn.Dense(H, D, name="output", weight_name="W_y", bias_name="b_y")
    params = {"W_x": inp.weight, "b_s": inp.bias, "W_s": rec.weight, "W_y": out.weight, "b_y": out.bias}
    for n, q in params.items():
        q.data = p[n].copy()
    X, d = gradlab.tensor(xs), gradlab.tensor(ds)

    def run():
        for q in params.values():
            q.grad = None
        s = gradlab.tensor(np.zeros((B, H)))
        if fused:
            A = inp(X)
            S = []
            for t in range(1, T + 1):
                with gradlab.scope(t=t):
                    s = gradlab.tanh(A[t - 1] + rec(s))
                S.append(s)
            r = out(gradlab.stack(S)) - d
            E = 0.5 * (r * r).sum()
        else:
            E = 0.0
            for t in range(1, T + 1):
                with gradlab.scope(t=t):
                    s = gradlab.tanh(inp(X[t - 1]) + rec(s))
                    r = out(s) - d[t - 1]
                    E = E + 0.5 * (r * r).sum()
        E.backward()
        return E.item(), {n: params[n].grad for n in NAMES}

    return run


def impls_for(p, xs, ds):
    """Return {row name: callable or None} in table order."""
    rows = {
        "NumPy floor (batched projections)": numpy_floor(p, xs, ds),
        "NumPy step by step": numpy_stepwise(p, xs, ds),
    }
    fused = gradlab_unroll(p, xs, ds, fused=True)
    if fused is not None:
        rows["gradlab unroll(fused=True)"] = fused
        rows["gradlab unroll(fused=False)"] = gradlab_unroll(p, xs, ds, fused=False)
    rows["gradlab Dense, batched projections"] = gradlab_dense(p, xs, ds, fused=True)
    rows["gradlab Dense, step by step"] = gradlab_dense(p, xs, ds, fused=False)
    rows["HIPS autograd (batched projections)"] = autograd_ref(p, xs, ds)
    rows["PyTorch eager CPU (batched projections)"] = torch_ref(p, xs, ds)
    return rows


def main() -> None:
    args = common.parse_args(__doc__.splitlines()[0])
    common.print_header("Elman RNN, forward + backward, float64")
    for size in args.sizes:
        dims = common.SIZES[size]
        p, xs, ds = make_problem(**dims)
        title = f"Elman, {size}: " + ", ".join(f"{k}={v}" for k, v in dims.items()) + f", O={dims['D']}"
        common.run_case(title, impls_for(p, xs, ds), "NumPy floor (batched projections)", args)


if __name__ == "__main__":
    main()
