/* The gradient of ode_last (examples/ode.dp: the last element of y(2), with respect to x)
 * written by hand in C, three ways, to see what dpc's generated gradient is up against.
 *
 * A step of RK4 from y, with f(z)_0 = x_0 and f(z)_i = x_i z_(i-1):
 *     z2 = y + h/2 f(y),  z3 = y + h/2 f(z2),  z4 = y + h f(z3),
 *     y' = y + h/6 (f(y) + 2 f(z2) + 2 f(z3) + f(z4)).
 * Its reverse, from the adjoint yb of y': the stages' cotangents are
 *     b4 = h/6 yb,  b3 = h/3 yb + h f^T(b4),  b2 = h/3 yb + h/2 f^T(b3),
 *     b1 = h/6 yb + h/2 f^T(b2),
 * where f^T(b)_j = x_(j+1) b_(j+1) (0 for the last j); then
 *     xb_i += b4_i z4_(i-1) + b3_i z3_(i-1) + b2_i z2_(i-1) + b1_i y_(i-1)   (z_(-1) = 1),
 *     yb   <- yb + f^T(b4 + b3 + b2 + b1).
 *
 * - ode_last_grad_plain: each stage's transpose as its own pass over the arrays, scattering
 *   into zb[i-1] as the forward code reads z[i-1]; the stages replayed from the stored y.
 * - ode_last_grad_replay: the same arithmetic rearranged as gathers (b3 from yb, b2 from b3,
 *   ...), one pass per stage, the two adjoint updates in one pass; the stages replayed.
 * - ode_last_grad_taped: as _replay, but the forward sweep keeps z2, z3 and z4 of every
 *   step, so the reverse sweep reads them instead of recomputing them.
 * All three store y for every step (s + 1 rows). xb has n elements; n >= 1, s >= 1. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The stages of a step from y: z2, z3, z4 (n each). */
static void stages(const double *restrict x, const double *restrict y, int64_t n, double h,
                   double *restrict z2, double *restrict z3, double *restrict z4)
{
    z2[0] = y[0] + h / 2.0 * x[0];
    for (int64_t i = 1; i < n; i++)
        z2[i] = y[i] + h / 2.0 * x[i] * y[i - 1];
    z3[0] = y[0] + h / 2.0 * x[0];
    for (int64_t i = 1; i < n; i++)
        z3[i] = y[i] + h / 2.0 * x[i] * z2[i - 1];
    z4[0] = y[0] + h * x[0];
    for (int64_t i = 1; i < n; i++)
        z4[i] = y[i] + h * x[i] * z3[i - 1];
}

/* One step: y' from y and its stages. */
static void advance(const double *restrict x, const double *restrict y, int64_t n, double h,
                    const double *restrict z2, const double *restrict z3,
                    const double *restrict z4, double *restrict next)
{
    next[0] = y[0] + h * x[0];
    for (int64_t i = 1; i < n; i++)
        next[i] = y[i] + h / 6.0 * x[i] * (y[i - 1] + 2.0 * z2[i - 1] + 2.0 * z3[i - 1] + z4[i - 1]);
}

/* The forward sweep: y of every step into ys ((s + 1) x n), and the stages of step k into
 * zs + 3kn (z2, z3, z4) when zs is not NULL (else into the scratch z). */
static void forward(const double *x, int64_t n, int64_t s, double h, double *ys, double *zs,
                    double *z)
{
    memset(ys, 0, n * sizeof(double));
    for (int64_t k = 0; k < s; k++) {
        double *z2 = zs ? zs + 3 * k * n : z;
        stages(x, ys + k * n, n, h, z2, z2 + n, z2 + 2 * n);
        advance(x, ys + k * n, n, h, z2, z2 + n, z2 + 2 * n, ys + (k + 1) * n);
    }
}

/* The adjoints before the last step's reverse: xb = 0, yb = e_(n-1) (ode_last = y_(n-1)). */
static void seed(double *xb, double *yb, int64_t n)
{
    memset(xb, 0, n * sizeof(double));
    memset(yb, 0, n * sizeof(double));
    yb[n - 1] = 1.0;
}

/* xb += b * z shifted (the partials of f(z) for x); zb = f^T(b), scattered. */
static void transpose_scatter(const double *x, const double *z, const double *b, int64_t n,
                              double *xb, double *zb)
{
    xb[0] += b[0];
    zb[n - 1] = 0.0;
    for (int64_t i = 1; i < n; i++) {
        xb[i] += b[i] * z[i - 1];
        zb[i - 1] = b[i] * x[i];
    }
}

void ode_last_grad_plain(const double *x, int64_t n, int64_t s, double *xb)
{
    double h = 2.0 / s;
    double *ys = malloc((s + 1) * n * sizeof(double));
    double *w = malloc(7 * n * sizeof(double));
    double *z2 = w, *z3 = w + n, *z4 = w + 2 * n, *yb = w + 3 * n, *b = w + 4 * n;
    double *zb = w + 5 * n, *acc = w + 6 * n;
    forward(x, n, s, h, ys, NULL, z2);
    seed(xb, yb, n);
    for (int64_t k = s - 1; k >= 0; k--) {
        const double *y = ys + k * n;
        stages(x, y, n, h, z2, z3, z4);
        for (int64_t i = 0; i < n; i++)
            b[i] = h / 6.0 * yb[i];
        transpose_scatter(x, z4, b, n, xb, zb);
        for (int64_t i = 0; i < n; i++) {
            acc[i] = yb[i] + zb[i];
            b[i] = h / 3.0 * yb[i] + h * zb[i];
        }
        transpose_scatter(x, z3, b, n, xb, zb);
        for (int64_t i = 0; i < n; i++) {
            acc[i] += zb[i];
            b[i] = h / 3.0 * yb[i] + h / 2.0 * zb[i];
        }
        transpose_scatter(x, z2, b, n, xb, zb);
        for (int64_t i = 0; i < n; i++) {
            acc[i] += zb[i];
            b[i] = h / 6.0 * yb[i] + h / 2.0 * zb[i];
        }
        transpose_scatter(x, y, b, n, xb, zb);
        for (int64_t i = 0; i < n; i++)
            yb[i] = acc[i] + zb[i];
    }
    free(ys);
    free(w);
}

/* The reverse of one step in gather form, from the adjoint yb of y': xb updated, the
 * adjoint of y into next. */
static void reverse_step(const double *restrict x, const double *restrict y, int64_t n,
                         double h, const double *restrict z2, const double *restrict z3,
                         const double *restrict z4, double *restrict xb,
                         const double *restrict yb, double *restrict next, double *restrict w)
{
    double *restrict b3 = w, *restrict b2 = w + n, *restrict b1 = w + 2 * n;
    for (int64_t i = 0; i < n - 1; i++)
        b3[i] = h / 3.0 * yb[i] + h * x[i + 1] * (h / 6.0 * yb[i + 1]);
    b3[n - 1] = h / 3.0 * yb[n - 1];
    for (int64_t i = 0; i < n - 1; i++)
        b2[i] = h / 3.0 * yb[i] + h / 2.0 * x[i + 1] * b3[i + 1];
    b2[n - 1] = h / 3.0 * yb[n - 1];
    for (int64_t i = 0; i < n - 1; i++)
        b1[i] = h / 6.0 * yb[i] + h / 2.0 * x[i + 1] * b2[i + 1];
    b1[n - 1] = h / 6.0 * yb[n - 1];
    xb[0] += h / 6.0 * yb[0] + b3[0] + b2[0] + b1[0];
    for (int64_t i = 1; i < n; i++)
        xb[i] += h / 6.0 * yb[i] * z4[i - 1] + b3[i] * z3[i - 1] + b2[i] * z2[i - 1]
                 + b1[i] * y[i - 1];
    for (int64_t i = 0; i < n - 1; i++)
        next[i] = yb[i] + x[i + 1] * (h / 6.0 * yb[i + 1] + b3[i + 1] + b2[i + 1] + b1[i + 1]);
    next[n - 1] = yb[n - 1];
}

static void fused(const double *x, int64_t n, int64_t s, double *xb, int taped)
{
    double h = 2.0 / s;
    double *ys = malloc((s + 1) * n * sizeof(double));
    double *zs = taped ? malloc(3 * s * n * sizeof(double)) : NULL;
    double *w = malloc(8 * n * sizeof(double));
    double *yb = w, *next = w + n, *scratch = w + 2 * n, *z = w + 5 * n;
    forward(x, n, s, h, ys, zs, z);
    seed(xb, yb, n);
    for (int64_t k = s - 1; k >= 0; k--) {
        const double *y = ys + k * n;
        double *z2 = taped ? zs + 3 * k * n : z;
        if (!taped)
            stages(x, y, n, h, z2, z2 + n, z2 + 2 * n);
        reverse_step(x, y, n, h, z2, z2 + n, z2 + 2 * n, xb, yb, next, scratch);
        double *swap = yb;
        yb = next;
        next = swap;
    }
    free(ys);
    free(zs);
    free(w);
}

void ode_last_grad_replay(const double *x, int64_t n, int64_t s, double *xb)
{
    fused(x, n, s, xb, 0);
}

void ode_last_grad_taped(const double *x, int64_t n, int64_t s, double *xb)
{
    fused(x, n, s, xb, 1);
}
