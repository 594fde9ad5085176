"""Hand-derived reverse-mode gradients of the GMM and LSTM objectives in reference.py.

Each backward pass below was worked out by hand from the forward code in reference.py
(chain rule, written out as vectorized NumPy). Nothing here uses an autodiff library,
finite differences or any part of dpc, so these gradients are an independent oracle for
dpc's automatic differentiation. test_reference_grad.py checks them against central
finite differences of the forward references.

| function      | arguments (as make_inputs returns them)    | returns                      |
| ------------- | ------------------------------------------ | ---------------------------- |
| gmm_gradient  | alphas, means, icf, x, gamma, m            | d_alphas, d_means, d_icf     |
| lstm_gradient | main_params, extra_params, state, sequence | d_main, d_extra              |

lstm_gradient_all also returns d_state and d_sequence (the forward is smooth in them too).
"""

import numpy as np

from reference import ltri_positions, sigmoid, unpack_q


def softmax(v, axis=-1):
    """exp(v) / sum(exp(v)), shifted by the maximum: the derivative of logsumexp."""
    e = np.exp(v - np.max(v, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


# --- gmm ---------------------------------------------------------------------------------

def gmm_gradient(alphas, means, icf, x, gamma, m):
    """Gradient of reference.gmm_objective with respect to alphas, means and icf."""
    n, d = x.shape
    k = len(alphas)
    log_diag = icf[:, :d]
    qs = np.stack([unpack_q(icf[j], d) for j in range(k)])       # k x d x d
    centered = x[:, None, :] - means[None, :, :]                 # n x k x d
    z = np.einsum("jab,ijb->ija", qs, centered)
    beta = alphas[None, :] + log_diag.sum(axis=1)[None, :] - 0.5 * np.sum(z * z, axis=2)

    # sum_i logsumexp_j(beta_ij): each point spreads a unit of gradient over the
    # components by its responsibilities; -n logsumexp(alphas) takes n softmax(alphas).
    resp = softmax(beta, axis=1)                                 # n x k
    d_alphas = resp.sum(axis=0) - n * softmax(alphas)

    # beta_ij = ... - |z_ij|^2 / 2 with z_ij = Q_j c_ij, c_ij = x_i - mu_j.
    d_z = -resp[:, :, None] * z                                  # n x k x d
    d_q = np.einsum("ija,ijb->jab", d_z, centered)               # only the lower part is used
    d_centered = np.einsum("jab,ija->ijb", qs, d_z)              # Q_j^T d_z_ij
    d_means = -d_centered.sum(axis=0)

    # Diagonal of Q_j is exp(log_diag): chain through exp. log_diag also enters beta
    # directly (the log-determinant, once per point: sum_i resp_ij) and the prior
    # (m log_diag - gamma^2 exp(2 log_diag) / 2).
    diag_q = np.exp(log_diag)
    d_diag = np.einsum("jaa->ja", d_q)
    d_log_diag = (d_diag * diag_q + resp.sum(axis=0)[:, None]
                  + m - gamma ** 2 * diag_q ** 2)
    # Off-diagonal entries sit in Q_j as they are; the prior adds -gamma^2 l^2 / 2.
    rows, cols = ltri_positions(d)
    d_lower = d_q[:, rows, cols] - gamma ** 2 * icf[:, d:]
    return d_alphas, d_means, np.concatenate([d_log_diag, d_lower], axis=1)


# --- lstm --------------------------------------------------------------------------------

def lstm_cell_forward(inp, hidden, cell, weights, biases):
    """One layer at one time step, as in reference.lstm_objective; returns the new hidden
    and cell states and what the backward pass needs."""
    w_forget, w_in, w_out, w_change = weights
    b_forget, b_in, b_out, b_change = biases
    forget = sigmoid(inp * w_forget + b_forget)
    ingate = sigmoid(hidden * w_in + b_in)
    outgate = sigmoid(inp * w_out + b_out)
    change = np.tanh(hidden * w_change + b_change)
    new_cell = cell * forget + ingate * change
    tanh_cell = np.tanh(new_cell)
    saved = (inp, hidden, cell, forget, ingate, outgate, change, tanh_cell)
    return outgate * tanh_cell, new_cell, saved


def lstm_cell_backward(d_hidden_new, d_cell_new, weights, saved):
    """Reverse of lstm_cell_forward: from the gradients of the new hidden and cell states
    to those of the layer input, previous hidden and cell states, and the 4 x b weights
    and biases (rows in the order forget, in, out, change)."""
    w_forget, w_in, w_out, w_change = weights
    inp, hidden, cell, forget, ingate, outgate, change, tanh_cell = saved
    d_outgate = d_hidden_new * tanh_cell
    # The new cell reaches the loss directly (next step) and through hidden = o tanh(c).
    d_cell = d_cell_new + d_hidden_new * outgate * (1.0 - tanh_cell ** 2)
    # Gradients of the pre-activations: sigmoid' = s (1 - s), tanh' = 1 - t^2.
    d_pre_forget = d_cell * cell * forget * (1.0 - forget)
    d_pre_in = d_cell * change * ingate * (1.0 - ingate)
    d_pre_out = d_outgate * outgate * (1.0 - outgate)
    d_pre_change = d_cell * ingate * (1.0 - change ** 2)
    # forget and out gates read the layer input; in and change gates the old hidden state.
    d_weights = np.stack([d_pre_forget * inp, d_pre_in * hidden,
                          d_pre_out * inp, d_pre_change * hidden])
    d_biases = np.stack([d_pre_forget, d_pre_in, d_pre_out, d_pre_change])
    d_inp = d_pre_forget * w_forget + d_pre_out * w_out
    d_hidden = d_pre_in * w_in + d_pre_change * w_change
    return d_inp, d_hidden, d_cell * forget, d_weights, d_biases


def lstm_gradient_all(main_params, extra_params, state, sequence):
    """Gradient of reference.lstm_objective with respect to all four arguments, by
    backpropagation through time over the layers and steps of the forward."""
    layers = main_params.shape[0] // 2
    b = extra_params.shape[1]
    c = sequence.shape[0]
    weights = [main_params[2 * i].reshape(4, b) for i in range(layers)]
    biases = [main_params[2 * i + 1].reshape(4, b) for i in range(layers)]

    # Forward, keeping every cell's intermediates and each step's output.
    hidden = [state[2 * i].copy() for i in range(layers)]
    cell = [state[2 * i + 1].copy() for i in range(layers)]
    saved = []                                                   # saved[t][i]
    outputs = []                                                 # (top hidden, ypred)
    for t in range(c - 1):
        inp = sequence[t] * extra_params[0]
        step = []
        for i in range(layers):
            hidden[i], cell[i], s = lstm_cell_forward(inp, hidden[i], cell[i],
                                                      weights[i], biases[i])
            step.append(s)
            inp = hidden[i]
        saved.append(step)
        outputs.append((inp, inp * extra_params[1] + extra_params[2]))

    d_main = np.zeros_like(main_params)
    d_extra = np.zeros_like(extra_params)
    d_sequence = np.zeros_like(sequence)
    # Gradients flowing back into each layer's hidden and cell state from later steps.
    d_hidden = [np.zeros(b) for _ in range(layers)]
    d_cell = [np.zeros(b) for _ in range(layers)]
    scale = -1.0 / ((c - 1) * b)
    for t in reversed(range(c - 1)):
        top, ypred = outputs[t]
        # loss term scale * sequence[t+1] . (ypred - log(sum(exp(ypred)) + 2)); the log's
        # derivative is exp(ypred) / (sum(exp(ypred)) + 2), not a softmax, because of the 2.
        exp_y = np.exp(ypred)
        log_norm = np.log(np.sum(exp_y) + 2.0)
        d_ynorm = scale * sequence[t + 1]
        d_ypred = d_ynorm - np.sum(d_ynorm) * exp_y / (np.sum(exp_y) + 2.0)
        d_sequence[t + 1] += scale * (ypred - log_norm)
        d_extra[1] += d_ypred * top
        d_extra[2] += d_ypred
        d_hidden[-1] = d_hidden[-1] + d_ypred * extra_params[1]
        # Top layer first: its input is the hidden state of the layer below at step t,
        # whose gradient from step t+1 is already in d_hidden[i - 1].
        for i in reversed(range(layers)):
            d_inp, d_hidden[i], d_cell[i], d_w, d_b = lstm_cell_backward(
                d_hidden[i], d_cell[i], weights[i], saved[t][i])
            d_main[2 * i] += d_w.reshape(-1)
            d_main[2 * i + 1] += d_b.reshape(-1)
            if i > 0:
                d_hidden[i - 1] = d_hidden[i - 1] + d_inp
        # The bottom layer's input is sequence[t] * extra_params[0].
        d_extra[0] += d_inp * sequence[t]
        d_sequence[t] += d_inp * extra_params[0]

    d_state = np.empty_like(state)
    d_state[0::2] = d_hidden
    d_state[1::2] = d_cell
    return d_main, d_extra, d_state, d_sequence


def lstm_gradient(main_params, extra_params, state, sequence):
    """Gradient of reference.lstm_objective with respect to main_params and extra_params."""
    d_main, d_extra, _, _ = lstm_gradient_all(main_params, extra_params, state, sequence)
    return d_main, d_extra
