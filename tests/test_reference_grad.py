"""The hand-derived gradients in reference_grad.py, checked against central finite
differences of the forward references in reference.py."""

import numpy as np
import pytest

import reference as R
from numdiff import central_differences, relative_error
import reference_grad as G

# Central differences have truncation error ~ step^2 and rounding error ~ eps |f| / step.
# With step 1e-6 (scaled by the coordinate) the observed errors, over seeds 0-29 of the
# small inputs, are below 5e-8 for the GMM (|f| up to a few hundred) and 3e-10 for the
# LSTM (|f| about 1); the tolerances leave a margin of about 4x over that.
STEP = 1e-6
GMM_TOLERANCE = 2e-7
LSTM_TOLERANCE = 1e-9


def max_relative_error(f, args, which, gradient, coords=None, step=STEP):
    """Largest |a - e| / max(1, |a| + |e|) over the checked coordinates of one argument,
    after checking the gradient's shape."""
    assert gradient.shape == args[which].shape
    coords = np.arange(args[which].size) if coords is None else coords
    estimates = central_differences(f, args, which, coords, eps=step)
    return np.max(relative_error(gradient.flat[coords], estimates))


def check_gradients(f, args, gradients, tolerance, coords=None, step=STEP):
    """Check gradients[w] against finite differences of f in argument w, for each w;
    `coords(size)` picks the flat indices to check (all by default)."""
    for which, gradient in enumerate(gradients):
        cs = None if coords is None else coords(args[which].size)
        error = max_relative_error(f, args, which, gradient, cs, step)
        assert error <= tolerance, (which, error)


def random_gmm(rng, d, k, n, gamma, m):
    return [rng.normal(size=k), rng.uniform(size=(k, d)),
            rng.normal(size=(k, d * (d + 1) // 2)), rng.normal(size=(n, d)), gamma, m]


def random_lstm(rng, layers, b, c):
    return [rng.random((2 * layers, 4 * b)), rng.random((3, b)), rng.random((2 * layers, b)),
            rng.integers(0, 2, size=(c, b)).astype(np.float64)]


# --- gmm ---------------------------------------------------------------------------------

GMM_CASES = {
    "small-seed0": lambda: R.make_inputs("gmm", "small", 0),
    "small-seed1": lambda: R.make_inputs("gmm", "small", 1),      # gamma 0.7, m 1
    "small-seed2": lambda: R.make_inputs("gmm", "small", 2),      # m 2
    "d3-k4-n5": lambda: random_gmm(np.random.default_rng(10), 3, 4, 5, 1.3, 2),
    "d1-no-off-diagonal": lambda: random_gmm(np.random.default_rng(11), 1, 3, 4, 1.0, 0),
    "d4-k1": lambda: random_gmm(np.random.default_rng(12), 4, 1, 6, 0.5, 1),
}


@pytest.mark.parametrize("case", sorted(GMM_CASES))
def test_gmm_gradient_matches_finite_differences(case):
    args = GMM_CASES[case]()
    check_gradients(R.gmm_objective, args, G.gmm_gradient(*args), GMM_TOLERANCE)


def test_gmm_gradient_large_inputs_on_sampled_coordinates():
    # |f| is about 3e4 here, so a step of 1e-6 would leave rounding errors of ~1e-6;
    # 1e-4 balances them against truncation (observed errors below 5e-8).
    args = R.make_inputs("gmm", "large", 0)
    rng = np.random.default_rng(0)
    check_gradients(R.gmm_objective, args, G.gmm_gradient(*args), 2e-7,
                    coords=lambda size: rng.choice(size, 15, replace=False), step=1e-4)


def test_gmm_single_component_has_zero_alpha_gradient():
    # With k = 1 the mixture weight softmax(alphas) is 1 whatever alphas is.
    d_alphas, _, _ = G.gmm_gradient(*GMM_CASES["d4-k1"]())
    assert np.all(d_alphas == 0.0)


def test_gmm_alpha_gradient_sums_to_zero():
    # The objective depends on alphas only through softmax(alphas), which is unchanged by
    # adding a constant to every alpha, so the alpha gradient sums to zero.
    d_alphas, _, _ = G.gmm_gradient(*R.make_inputs("gmm", "small", 3))
    assert abs(np.sum(d_alphas)) < 1e-12


# --- lstm --------------------------------------------------------------------------------

LSTM_CASES = {
    "small-seed0": lambda: R.make_inputs("lstm", "small", 0),
    "small-seed1": lambda: R.make_inputs("lstm", "small", 1),
    "1-layer": lambda: random_lstm(np.random.default_rng(20), 1, 4, 5),
    "3-layers": lambda: random_lstm(np.random.default_rng(21), 3, 3, 7),
    "one-step": lambda: random_lstm(np.random.default_rng(22), 2, 6, 2),
    "b1": lambda: random_lstm(np.random.default_rng(23), 2, 1, 5),
}


@pytest.mark.parametrize("case", sorted(LSTM_CASES))
def test_lstm_gradient_matches_finite_differences(case):
    args = LSTM_CASES[case]()
    check_gradients(R.lstm_objective, args, G.lstm_gradient(*args), LSTM_TOLERANCE)


@pytest.mark.parametrize("case", ["small-seed0", "3-layers"])
def test_lstm_state_and_sequence_gradients_match_finite_differences(case):
    args = LSTM_CASES[case]()
    gradients = G.lstm_gradient_all(*args)
    d_main, d_extra = G.lstm_gradient(*args)
    assert np.array_equal(gradients[0], d_main) and np.array_equal(gradients[1], d_extra)
    check_gradients(R.lstm_objective, args, gradients, LSTM_TOLERANCE)


def test_lstm_gradient_large_inputs_on_sampled_coordinates():
    # A shorter sequence than GradBench's 1024 characters keeps this fast; the layer and
    # bit counts are the large workload's.
    main_params, extra_params, state, sequence = R.make_inputs("lstm", "large", 0)
    args = [main_params, extra_params, state, sequence[:64]]
    rng = np.random.default_rng(1)
    check_gradients(R.lstm_objective, args, G.lstm_gradient(*args), LSTM_TOLERANCE,
                    coords=lambda size: rng.choice(size, min(size, 20), replace=False))


def test_gradients_do_not_modify_their_arguments():
    for name, gradient in (("gmm", G.gmm_gradient), ("lstm", G.lstm_gradient_all)):
        args = R.make_inputs(name, "small", 0)
        copies = [np.copy(a) for a in args]
        gradient(*args)
        for a, c in zip(args, copies):
            assert np.array_equal(a, c)
