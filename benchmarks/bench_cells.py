r"""Forward + backward of unfolded LSTM and GRU networks: gradlab against hand-written NumPy BPTT (the
floor), HIPS autograd and PyTorch (CPU, when installed), float64, one BLAS thread; then the tokens per
second of a character-level LSTM training step, and the forward + backward of that char-level task (one-hot
inputs, softmax cross-entropy) at both sizes.

Cells as in ``gradlab.nn.cells`` (rows are batch items, lecture notation, y_t = W_y s_t + b_y,
E = ½ Σ_t ‖y_t − d_t‖², zero initial state):

    LSTM (gates i, f, g, o):  [a_i; a_f; a_g; a_o] = W_x x_t + W_s s_{t-1} + b_s
                              c_t = σ(a_f) ⊙ c_{t-1} + σ(a_i) ⊙ tanh(a_g),  s_t = σ(a_o) ⊙ tanh(c_t)
    GRU (gates r, z, n, reset "after"):  [a_r; a_z; a_n] = W_x x_t + b_x,  [h_r; h_z; h_n] = W_s s_{t-1} + b_s
                              r = σ(a_r + h_r), z = σ(a_z + h_z), n = tanh(a_n + r ⊙ h_n)
                              s_t = (1 − z) ⊙ n + z ⊙ s_{t-1}

Run:  .venv/bin/python benchmarks/bench_cells.py  [--sizes small large] [--quick]
"""
from __future__ import annotations

import common  # noqa: F401  (first: pins BLAS to one thread before NumPy loads)

import types

import numpy as np

import gradlab
from bench_engine import gradlab_cell_runner, rnn_api

LSTM_NAMES = ("W_x", "W_s", "b_s", "W_y", "b_y")
GRU_NAMES = ("W_x", "b_x", "W_s", "b_s", "W_y", "b_y")


def make_problem(cell, B, T, D, H, seed=0):
    """Return (parameters {name: array}, xs (T,B,D), ds (T,B,D)) for ``cell`` in {"lstm", "gru"}, O = D."""
    rng = np.random.default_rng(seed)
    G = 4 if cell == "lstm" else 3
    u = lambda shape, fan_in: rng.uniform(-1, 1, shape) / np.sqrt(fan_in)  # noqa: E731
    p = {"W_x": u((G * H, D), D), "W_s": u((G * H, H), H), "b_s": rng.uniform(-0.1, 0.1, G * H),
         "W_y": u((D, H), H), "b_y": rng.uniform(-0.1, 0.1, D)}
    if cell == "gru":
        p["b_x"] = rng.uniform(-0.1, 0.1, G * H)
    return p, rng.standard_normal((T, B, D)), rng.standard_normal((T, B, D))


def _sigmoid(x):
    return 0.5 * np.tanh(0.5 * x) + 0.5


def mse_grad(d):
    """Return the loss-gradient function for E = ½‖Y − d‖²: Y ↦ (E, ∂E/∂Y) (Y rows are (t, b) pairs)."""
    def loss(Y):
        dY = Y - d
        return 0.5 * np.vdot(dY, dY), dY
    return loss


# ------------------------------------------------------------------------------------- floors
def lstm_floor(p, xs, loss):
    r"""Hand-written LSTM BPTT with the input and output projections of all steps as one product each.

    Backward per step: δs = δs_out + δs_next; δo = δs ⊙ tanh c; δc = δc_next + δs ⊙ o ⊙ (1 − tanh² c);
    δi = δc ⊙ g, δf = δc ⊙ c_{t−1}, δg = δc ⊙ i, δc_next = δc ⊙ f; gate pre-activations through σ' and
    tanh'; δs_next = W_sᵀ δa. ``loss(Y)`` returns (E, ∂E/∂Y)."""
    Wx, Ws, bs, Wy, by = (p[n] for n in LSTM_NAMES)
    T, B, D = xs.shape
    H = Ws.shape[1]
    X = xs.reshape(T * B, D)

    def run():
        A = (X @ Wx.T + bs).reshape(T, B, 4 * H)
        S = np.zeros((T + 1, B, H))
        C = np.zeros((T + 1, B, H))
        Gt = np.empty((T, B, 4 * H))        # gate values i, f, g, o
        TC = np.empty((T, B, H))            # tanh(c_t)
        WsT = Ws.T
        for t in range(T):
            a = A[t] + S[t] @ WsT
            gt = Gt[t]
            gt[:] = _sigmoid(a)
            np.tanh(a[:, 2 * H:3 * H], out=gt[:, 2 * H:3 * H])
            i, f, g, o = gt[:, :H], gt[:, H:2 * H], gt[:, 2 * H:3 * H], gt[:, 3 * H:]
            c = f * C[t] + i * g
            C[t + 1] = c
            np.tanh(c, out=TC[t])
            np.multiply(o, TC[t], out=S[t + 1])
        Sf = S[1:].reshape(T * B, H)
        E, dY = loss(Sf @ Wy.T + by)
        dS = (dY @ Wy).reshape(T, B, H)
        dA = np.empty((T, B, 4 * H))
        ds_next = np.zeros((B, H))
        dc_next = np.zeros((B, H))
        for t in range(T - 1, -1, -1):
            gt, tc = Gt[t], TC[t]
            i, f, g, o = gt[:, :H], gt[:, H:2 * H], gt[:, 2 * H:3 * H], gt[:, 3 * H:]
            ds = dS[t] + ds_next
            dc = dc_next + ds * o * (1.0 - tc * tc)
            da = dA[t]
            da[:, :H] = dc * g * i * (1.0 - i)
            da[:, H:2 * H] = dc * C[t] * f * (1.0 - f)
            da[:, 2 * H:3 * H] = dc * i * (1.0 - g * g)
            da[:, 3 * H:] = ds * tc * o * (1.0 - o)
            dc_next = dc * f
            if t:
                ds_next = da @ Ws
        dAf = dA.reshape(T * B, 4 * H)
        return E, {"W_x": dAf.T @ X, "W_s": dAf.T @ S[:-1].reshape(T * B, H), "b_s": dAf.sum(0),
                   "W_y": dY.T @ Sf, "b_y": dY.sum(0)}

    return run


def gru_floor(p, xs, loss):
    r"""Hand-written GRU BPTT (reset after the recurrent product), projections batched over time.

    Backward per step: δz = δs ⊙ (s_{t−1} − n), δn = δs ⊙ (1 − z), δa_n = δn ⊙ (1 − n²), δh_n = δa_n ⊙ r,
    δr = δa_n ⊙ h_n; σ' for r and z; δs_next = δs ⊙ z + W_sᵀ δh. ``loss(Y)`` returns (E, ∂E/∂Y)."""
    Wx, bx, Ws, bs, Wy, by = (p[n] for n in GRU_NAMES)
    T, B, D = xs.shape
    H = Ws.shape[1]
    X = xs.reshape(T * B, D)

    def run():
        A = (X @ Wx.T + bx).reshape(T, B, 3 * H)
        S = np.zeros((T + 1, B, H))
        Hh = np.empty((T, B, 3 * H))        # W_s s_{t-1} + b_s
        R, Z, N = (np.empty((T, B, H)) for _ in range(3))
        WsT = Ws.T
        for t in range(T):
            h = Hh[t]
            np.matmul(S[t], WsT, out=h)
            h += bs
            a = A[t]
            r = R[t]
            r[:] = _sigmoid(a[:, :H] + h[:, :H])
            z = Z[t]
            z[:] = _sigmoid(a[:, H:2 * H] + h[:, H:2 * H])
            n = N[t]
            np.tanh(a[:, 2 * H:] + r * h[:, 2 * H:], out=n)
            S[t + 1] = n + z * (S[t] - n)
        Sf = S[1:].reshape(T * B, H)
        E, dY = loss(Sf @ Wy.T + by)
        dS = (dY @ Wy).reshape(T, B, H)
        dA = np.empty((T, B, 3 * H))
        dH = np.empty((T, B, 3 * H))
        ds_next = np.zeros((B, H))
        for t in range(T - 1, -1, -1):
            r, z, n = R[t], Z[t], N[t]
            ds = dS[t] + ds_next
            dan = ds * (1.0 - z) * (1.0 - n * n)
            dar = dan * Hh[t][:, 2 * H:] * r * (1.0 - r)
            daz = ds * (S[t] - n) * z * (1.0 - z)
            da, dh = dA[t], dH[t]
            da[:, :H] = dar
            da[:, H:2 * H] = daz
            da[:, 2 * H:] = dan
            dh[:, :2 * H] = da[:, :2 * H]
            np.multiply(dan, r, out=dh[:, 2 * H:])
            ds_next = ds * z + dh @ Ws
        dAf, dHf = dA.reshape(T * B, 3 * H), dH.reshape(T * B, 3 * H)
        return E, {"W_x": dAf.T @ X, "b_x": dAf.sum(0), "W_s": dHf.T @ S[:-1].reshape(T * B, H),
                   "b_s": dHf.sum(0), "W_y": dY.T @ Sf, "b_y": dY.sum(0)}

    return run


# ------------------------------------------------------------------------ references (autograd, torch)
def lstm_forward(F, params, X, T, B, H):
    """Return the (T·B, O) outputs of the LSTM written against the small namespace ``F``."""
    Wx, Ws, bs, Wy, by = params
    A = F.reshape(X @ Wx.T + bs, (T, B, 4 * H))
    s = c = F.zeros((B, H))
    S = []
    for a_t in F.unbind(A):
        a_i, a_f, a_g, a_o = F.chunk(a_t + s @ Ws.T, 4)
        i, f, o = F.sigmoid(a_i), F.sigmoid(a_f), F.sigmoid(a_o)
        c = f * c + i * F.tanh(a_g)
        s = o * F.tanh(c)
        S.append(s)
    return F.reshape(F.stack(S), (T * B, H)) @ Wy.T + by


def gru_forward(F, params, X, T, B, H):
    """Return the (T·B, O) outputs of the GRU (reset after) written against the small namespace ``F``."""
    Wx, bx, Ws, bs, Wy, by = params
    A = F.reshape(X @ Wx.T + bx, (T, B, 3 * H))
    s = F.zeros((B, H))
    S = []
    for a_t in F.unbind(A):
        a_r, a_z, a_n = F.chunk(a_t, 3)
        h_r, h_z, h_n = F.chunk(s @ Ws.T + bs, 3)
        r = F.sigmoid(a_r + h_r)
        z = F.sigmoid(a_z + h_z)
        n = F.tanh(a_n + r * h_n)
        s = (1.0 - z) * n + z * s
        S.append(s)
    return F.reshape(F.stack(S), (T * B, H)) @ Wy.T + by


FORWARDS = {"lstm": (lstm_forward, LSTM_NAMES), "gru": (gru_forward, GRU_NAMES)}


def autograd_ref(cell, p, xs, ds):
    """HIPS autograd on the same loss, with the floor's batched projections."""
    import autograd.numpy as anp

    forward, names = FORWARDS[cell]
    T, B, D = xs.shape
    H = p["W_s"].shape[1]
    X, d = xs.reshape(T * B, D), ds.reshape(T * B, D)
    F = autograd_namespace()

    def loss(params):
        r = forward(F, params, X, T, B, H) - d
        return 0.5 * anp.sum(r * r)

    return common.autograd_runner(loss, p, names)


def autograd_namespace():
    r"""Return the ops the reference forwards use, for HIPS autograd. Per-step rows and gates are taken
    by indexing: autograd's VJP of indexing is a sparse update, which measured faster here than
    ``split`` (whose VJP concatenates)."""
    import autograd.numpy as anp

    def chunk(a, n):
        m = a.shape[-1] // n
        return [a[..., k * m:(k + 1) * m] for k in range(n)]

    return types.SimpleNamespace(
        reshape=anp.reshape, zeros=anp.zeros, stack=anp.stack, tanh=anp.tanh,
        sigmoid=lambda x: 0.5 * anp.tanh(0.5 * x) + 0.5,
        unbind=lambda A: [A[t] for t in range(A.shape[0])], chunk=chunk)


def torch_namespace(torch):
    """Return the ops the reference forwards use, for PyTorch. ``unbind``/``chunk`` are idiomatic and,
    unlike indexing (whose backward fills a zero tensor of the whole input per use), cheap in backward:
    at the large Elman size they halve PyTorch's time."""
    return types.SimpleNamespace(reshape=torch.reshape, zeros=lambda shape: torch.zeros(shape, dtype=torch.float64),
                                 stack=torch.stack, tanh=torch.tanh, sigmoid=torch.sigmoid,
                                 unbind=lambda A: A.unbind(0), chunk=lambda a, n: a.chunk(n, dim=-1))


def torch_ref(cell, p, xs, ds):
    """PyTorch eager (CPU, float64) on the same loss with batched projections; None when absent."""
    torch = common.optional("torch")
    if torch is None:
        return None
    forward, names = FORWARDS[cell]
    T, B, D = xs.shape
    H = p["W_s"].shape[1]
    params = [torch.tensor(p[n], requires_grad=True) for n in names]
    X, d = torch.tensor(xs.reshape(T * B, D)), torch.tensor(ds.reshape(T * B, D))
    F = torch_namespace(torch)

    def run():
        E = 0.5 * ((forward(F, params, X, T, B, H) - d) ** 2).sum()
        g = torch.autograd.grad(E, params)
        return E.item(), {n: gi.numpy() for n, gi in zip(names, g)}

    return run


def gradlab_ref(cell, p, xs, ds, fused):
    """gradlab: ``LSTMCell`` / ``GRUCell`` unrolled with ``unroll(..., fused=fused)``; None when absent."""
    api = rnn_api("LSTMCell" if cell == "lstm" else "GRUCell")
    if api is None:
        return None
    cls, unroll = api
    D, H = xs.shape[2], p["W_s"].shape[1]
    names = FORWARDS[cell][1]
    return gradlab_cell_runner(cls(D, H, D), unroll, names, p, xs, ds, fused)


def impls_for(cell, p, xs, ds):
    """Return {row name: callable or None} in table order."""
    floor = (lstm_floor if cell == "lstm" else gru_floor)(p, xs, mse_grad(ds.reshape(-1, ds.shape[-1])))
    return {
        "NumPy floor (batched projections)": floor,
        "gradlab unroll(fused=True)": gradlab_ref(cell, p, xs, ds, True),
        "gradlab unroll(fused=False)": gradlab_ref(cell, p, xs, ds, False),
        "HIPS autograd (batched projections)": autograd_ref(cell, p, xs, ds),
        "PyTorch eager CPU (batched projections)": torch_ref(cell, p, xs, ds),
    }


# ------------------------------------------------------------------------- char-level training step
def char_problem(B, T, D, H, seed=0):
    """Return (LSTM parameters, one-hot inputs (T,B,V), integer targets (T,B)) for a V = D character model."""
    p, _, _ = make_problem("lstm", B, T, D, H, seed)
    rng = np.random.default_rng(seed + 1)
    ids = rng.integers(0, D, size=(T + 1, B))
    return p, np.eye(D)[ids[:-1]], ids[1:]


def ce_grad(targets, V):
    """Return Y ↦ (Σ −log softmax(Y)[target], ∂/∂Y) for integer ``targets`` (rows are (t, b) pairs)."""
    onehot = np.eye(V)[targets.reshape(-1)]

    def loss(Y):
        z = Y - Y.max(axis=1, keepdims=True)
        e = np.exp(z)
        tot = e.sum(axis=1, keepdims=True)
        E = -np.sum(onehot * (z - np.log(tot)))
        return E, e / tot - onehot
    return loss


def char_rows(B, T, D, H, rows=("floor", "gradlab", "pytorch")) -> dict:
    r"""Return {row: callable returning (E, {name: gradient}), or None when absent} for one forward + backward
    of the char-level LSTM (one-hot inputs x_t of V = D characters, the next character as an integer target,
    E = Σ_t −log softmax(y_t)[d_t]): the NumPy floor, gradlab ``unroll(fused=True)`` with
    ``softmax_cross_entropy``, and PyTorch eager with ``cross_entropy(reduction="sum")``."""
    p, xs, ys = char_problem(B, T, D, H)
    make = {"floor": lambda: lstm_floor(p, xs, ce_grad(ys, D)),
            "gradlab": lambda: _gradlab_char(p, xs, ys),
            "pytorch": lambda: _torch_char(p, xs, ys)}
    return {row: make[row]() for row in rows}


def _gradlab_char(p, xs, ys):
    api = rnn_api("LSTMCell")
    if api is None:
        return None
    from gradlab.nn import losses

    cls, unroll = api
    T, B, D = xs.shape
    cell = cls(D, p["W_s"].shape[1], D)
    params = cell.parameters_by_name()
    for n in LSTM_NAMES:
        params[n].data = p[n].copy()
    X = gradlab.tensor(xs)

    def run():
        for q in params.values():
            q.grad = None
        E = losses.softmax_cross_entropy(unroll(cell, X, fused=True).output_sequence, ys)
        E.backward()
        return E.item(), {n: params[n].grad for n in LSTM_NAMES}

    return run


def _torch_char(p, xs, ys):
    torch = common.optional("torch")
    if torch is None:
        return None
    T, B, D = xs.shape
    H = p["W_s"].shape[1]
    params = [torch.tensor(p[n], requires_grad=True) for n in LSTM_NAMES]
    X, tgt = torch.tensor(xs.reshape(T * B, D)), torch.tensor(ys.reshape(-1))
    F = torch_namespace(torch)

    def run():
        E = torch.nn.functional.cross_entropy(lstm_forward(F, params, X, T, B, H), tgt, reduction="sum")
        g = torch.autograd.grad(E, params)
        return E.item(), {n: gi.numpy() for n, gi in zip(LSTM_NAMES, g)}

    return run


class NumpyAdam:
    """Adam with clipping by global norm, written out in NumPy for the floor's training step."""

    def __init__(self, params, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, clip=5.0):
        self.params, self.lr, self.b1, self.b2, self.eps, self.clip, self.t = params, lr, b1, b2, eps, clip, 0
        self.m = {n: np.zeros_like(v) for n, v in params.items()}
        self.v = {n: np.zeros_like(v) for n, v in params.items()}

    def step(self, grads):
        """Clip ``grads`` to global norm ``clip`` and update the parameters in place."""
        self.t += 1
        norm = np.sqrt(sum(np.vdot(g, g) for g in grads.values()))
        scale = min(1.0, self.clip / (norm + 1e-6))
        for n, g in grads.items():
            g = g * scale
            m, v = self.m[n], self.v[n]
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            v += (1 - self.b2) * g * g
            mh, vh = m / (1 - self.b1 ** self.t), v / (1 - self.b2 ** self.t)
            self.params[n] -= self.lr * mh / (np.sqrt(vh) + self.eps)


def char_training_steps(B, T, D, H):
    """Return {row name: callable doing one training step (fwd, bwd, clip, Adam)} for the char-level LSTM."""
    p, xs, ys = char_problem(B, T, D, H)
    rows = {}
    fp = {n: v.copy() for n, v in p.items()}
    floor_run = lstm_floor(fp, xs, ce_grad(ys, D))
    opt = NumpyAdam(fp)
    rows["NumPy floor (hand BPTT + Adam)"] = lambda: opt.step(floor_run()[1])

    api = rnn_api("LSTMCell")
    if api is not None:
        cls, unroll = api
        from gradlab.nn import losses, optim, train

        for fused in (True, False):
            cell = cls(D, H, D)
            params = cell.parameters_by_name()
            for n in LSTM_NAMES:
                params[n].data = p[n].copy()
            gopt = optim.Adam(cell.parameters(), lr=1e-3)
            X = gradlab.tensor(xs)

            def step(cell=cell, gopt=gopt, X=X, fused=fused):
                logits = unroll(cell, X, fused=fused).output_sequence
                train.train_step(losses.softmax_cross_entropy(logits, ys), gopt, clip_norm=5.0)

            rows[f"gradlab unroll(fused={fused}) + Adam"] = step

    torch = common.optional("torch")
    if torch is not None:
        tparams = [torch.tensor(p[n], requires_grad=True) for n in LSTM_NAMES]
        topt = torch.optim.Adam(tparams, lr=1e-3)
        X, tgt = torch.tensor(xs.reshape(T * B, D)), torch.tensor(ys.reshape(-1))
        F = torch_namespace(torch)

        def torch_step():
            topt.zero_grad()
            logits = lstm_forward(F, tparams, X, T, B, H)
            torch.nn.functional.cross_entropy(logits, tgt, reduction="sum").backward()
            torch.nn.utils.clip_grad_norm_(tparams, 5.0)
            topt.step()

        rows["PyTorch eager CPU + Adam"] = torch_step
    else:
        rows["PyTorch eager CPU + Adam"] = None
    return rows


def main() -> None:
    args = common.parse_args(__doc__.splitlines()[0])
    common.print_header("LSTM and GRU, forward + backward, float64")
    for cell in ("lstm", "gru"):
        for size in args.sizes:
            dims = common.SIZES[size]
            p, xs, ds = make_problem(cell, **dims)
            title = f"{cell.upper()}, {size}: " + ", ".join(f"{k}={v}" for k, v in dims.items()) + f", O={dims['D']}"
            common.run_case(title, impls_for(cell, p, xs, ds), "NumPy floor (batched projections)", args)

    for size in args.sizes:     # the char-level task: one-hot inputs, softmax cross-entropy, fwd + bwd
        dims = common.SIZES[size]
        rows = char_rows(**dims)
        title = (f"char-level LSTM, {size}: " + ", ".join(f"{k}={v}" for k, v in dims.items())
                 + ", one-hot x_t, E = Σ_t −log softmax(y_t)[d_t]")
        common.run_case(title, {"NumPy floor (batched projections)": rows["floor"],
                                "gradlab unroll(fused=True)": rows["gradlab"],
                                "PyTorch eager CPU (batched projections)": rows["pytorch"]},
                        "NumPy floor (batched projections)", args)

    # the small size, and the defaults of examples/char_rnn.py (16 streams, 64 units, windows of 25)
    for dims in (common.SIZES["small"], dict(B=16, T=25, D=65, H=64)):
        char_table(dims, args)


def char_table(dims, args) -> None:
    """Time one char-level LSTM training step per implementation and print ms, tokens/s and ratios."""
    rows = char_training_steps(**dims)
    present = {n: f for n, f in rows.items() if f is not None}
    times = common.compare(present, repeat=args.repeat, min_time=args.min_time)
    tokens = dims["B"] * dims["T"]
    floor = times["NumPy floor (hand BPTT + Adam)"]
    print(f"\nChar-level LSTM training step (V=D={dims['D']}, H={dims['H']}, B={dims['B']}, T={dims['T']}; "
          f"softmax cross-entropy, clip 5, Adam)\n")
    print("| implementation | ms per step | tokens/s | × floor")
    print("|----------------|------------:|---------:|--------:")
    for name, t in times.items():
        print(f"| {name} | {t * 1e3:.3f} | {tokens / t:,.0f} | {t / floor:.2f}")
    for name, f in rows.items():
        if f is None:
            print(f"| {name} | skipped | | not installed")


if __name__ == "__main__":
    main()
