/* examples/ode.dp in C: y0' = x0, yi' = xi * y(i-1), y(0) = 0, integrated from 0 to 2
 * with s steps of classic RK4; the solution y(2) goes to y[0..n). */
#include <stdint.h>
#include <stdlib.h>

/* The right-hand side f(y). */
static void rhs(const double *x, const double *y, int64_t n, double *out)
{
    out[0] = x[0];
    for (int64_t i = 1; i < n; i++)
        out[i] = x[i] * y[i - 1];
}

void ode(const double *x, int64_t n, int64_t s, double *y)
{
    if (n <= 0)
        return;
    double h = 2.0 / s;
    double *work = malloc(5 * n * sizeof(double));
    double *k1 = work, *k2 = work + n, *k3 = work + 2 * n, *k4 = work + 3 * n;
    double *tmp = work + 4 * n;
    for (int64_t i = 0; i < n; i++)
        y[i] = 0.0;
    for (int64_t step = 0; step < s; step++) {
        rhs(x, y, n, k1);
        for (int64_t i = 0; i < n; i++)
            tmp[i] = y[i] + h * k1[i] / 2.0;
        rhs(x, tmp, n, k2);
        for (int64_t i = 0; i < n; i++)
            tmp[i] = y[i] + h * k2[i] / 2.0;
        rhs(x, tmp, n, k3);
        for (int64_t i = 0; i < n; i++)
            tmp[i] = y[i] + h * k3[i];
        rhs(x, tmp, n, k4);
        for (int64_t i = 0; i < n; i++)
            y[i] = y[i] + h * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]) / 6.0;
    }
    free(work);
}
