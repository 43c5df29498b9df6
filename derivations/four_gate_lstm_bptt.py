r"""BPTT for the lecture's LSTM with learn, forget, remember and use gates, E = Σ_t ½‖y_t − d_t‖².

The notes write the cell with short-term memory STM, long-term memory LTM and the event E_t (the
input x_t). With j_t = [STM_{t−1}, E_t] (size H + D, STM first):

    learn:     N_t = tanh(W_n j_t + b_n),   i_t = σ(W_i j_t + b_i)
    forget:    f_t = σ(W_f j_t + b_f),      k_t = LTM_{t−1} ⊙ f_t            (what is kept)
    remember:  LTM_t = k_t + N_t ⊙ i_t
    use:       U_t = tanh(W_u k_t + b_u),   V_t = σ(W_v j_t + b_v),   STM_t = U_t ⊙ V_t
    output:    y_t = W_y STM_t + b_y

Note that the use gate reads the *kept old* memory k_t, not LTM_t: LTM_t reaches the error only
through step t + 1 (so ∂E/∂LTM_T = 0 at the last step).

Backward, from t = T down to 1, with δSTM_t = ∂E/∂STM_t and δLTM_t = ∂E/∂LTM_t:

    δSTM_t = W_yᵀ (y_t − d_t) + [first H rows of] δj_{t+1}
    δLTM_t = δk_{t+1} ⊙ f_{t+1}
    δu = δSTM_t ⊙ V_t ⊙ (1 − U_t²),   δv = δSTM_t ⊙ U_t ⊙ V_t (1 − V_t)
    δk = W_uᵀ δu + δLTM_t                          (k_t feeds U_t and LTM_t)
    δn = δLTM_t ⊙ i_t ⊙ (1 − N_t²),   δi = δLTM_t ⊙ N_t ⊙ i_t (1 − i_t),   δf = δk ⊙ LTM_{t−1} ⊙ f_t (1 − f_t)
    δj_t = W_nᵀ δn + W_iᵀ δi + W_fᵀ δf + W_vᵀ δv

    ∂E/∂W_g = Σ_t δg j_tᵀ and ∂E/∂b_g = Σ_t δg for g = n, i, f, v;   ∂E/∂W_u = Σ_t δu k_tᵀ,  ∂E/∂b_u = Σ_t δu
    ∂E/∂W_y = Σ_t (y_t − d_t) STM_tᵀ,   ∂E/∂b_y = Σ_t (y_t − d_t)
"""
import numpy as np

import gradlab

MODEL = gradlab.specs.four_gate_lstm(loss="mse_half", mode="many_to_many")


def sigmoid(a):
    return 0.5 * np.tanh(0.5 * a) + 0.5


def gradient(params, data):
    P = params
    xs, ds = data["xs"], data["ds"]
    T, H = len(xs), len(data["STM_0"])
    stm, ltm, cache = [data["STM_0"]], [data["LTM_0"]], [None]
    for t in range(1, T + 1):
        j = np.concatenate([stm[t - 1], xs[t - 1]])
        N = np.tanh(P["W_n"] @ j + P["b_n"])
        i = sigmoid(P["W_i"] @ j + P["b_i"])
        f = sigmoid(P["W_f"] @ j + P["b_f"])
        k = ltm[t - 1] * f
        ltm.append(k + N * i)
        U = np.tanh(P["W_u"] @ k + P["b_u"])
        V = sigmoid(P["W_v"] @ j + P["b_v"])
        stm.append(U * V)
        cache.append((j, N, i, f, k, U, V))
    grads = {name: np.zeros_like(v) for name, v in P.items()}
    d_stm_all, d_ltm_all = np.zeros((T, H)), np.zeros((T, H))
    dj_next = np.zeros(H + xs.shape[1])
    dk_next, f_next = np.zeros(H), np.zeros(H)
    for t in range(T, 0, -1):
        j, N, i, f, k, U, V = cache[t]
        e_t = P["W_y"] @ stm[t] + P["b_y"] - ds[t - 1]
        grads["W_y"] += np.outer(e_t, stm[t])
        grads["b_y"] += e_t
        d_stm = P["W_y"].T @ e_t + dj_next[:H]
        d_ltm = dk_next * f_next
        du = d_stm * V * (1 - U ** 2)
        dv = d_stm * U * V * (1 - V)
        dk = P["W_u"].T @ du + d_ltm
        dn = d_ltm * i * (1 - N ** 2)
        di = d_ltm * N * i * (1 - i)
        df = dk * ltm[t - 1] * f * (1 - f)
        for g, d in (("n", dn), ("i", di), ("f", df), ("v", dv)):
            grads[f"W_{g}"] += np.outer(d, j)
            grads[f"b_{g}"] += d
        grads["W_u"] += np.outer(du, k)
        grads["b_u"] += du
        dj_next = P["W_n"].T @ dn + P["W_i"].T @ di + P["W_f"].T @ df + P["W_v"].T @ dv
        dk_next, f_next = dk, f
        d_stm_all[t - 1], d_ltm_all[t - 1] = d_stm, d_ltm
    grads["delta_STM"], grads["delta_LTM"] = d_stm_all, d_ltm_all
    return grads
