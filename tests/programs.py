"""Small .dp programs that tests in several files run."""

# Newton's iteration for sqrt(a), TRIPS steps (a literal put in its place), for each
# element: a loop of known trips inside element code, which reverse mode
# (tests/passes/test_ad.py) and the `unroll` pass (test_unroll.py) write out, and whose
# gradient is one long chain of divisions per element (tests/runtime/test_native.py).
NEWTON = """\
def root(a: f64) -> f64:
    y = a
    for k in range(TRIPS):
        y = y - (y * y - a) / (2.0 * y)
    return y

def roots(x: f64[n]) -> f64:
    return sum([root(x[i]) for i in range(n)])
"""
