/* examples/llsq.dp in C: half the squared residual of the polynomial with coefficients
 * x[0..m) fitted to sign(t) at n points evenly spaced in [-1, 1]. */
#include <stdint.h>

double llsq(const double *x, int64_t m, int64_t n)
{
    double acc = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double t = -1.0 + i * 2.0 / (n - 1);
        double r = (t > 0.0) ? 1.0 : (t < 0.0) ? -1.0 : t;  /* sign(t) */
        double p = 1.0;
        for (int64_t j = 0; j < m; j++) {
            r -= x[j] * p;
            p *= t;
        }
        acc += r * r;
    }
    return 0.5 * acc;
}
