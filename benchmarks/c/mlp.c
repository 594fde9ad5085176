/* examples/mlp.dp in C: mean squared error of tanh(x @ w1 + b1) @ w2 + b2 against y.
 * w1 is d x h, w2 h x o, x n x d, y n x o. One row of the batch at a time, so the
 * hidden layer needs only h doubles. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

double mlp_loss(const double *w1, const double *b1, const double *w2, const double *b2,
                const double *x, const double *y, int64_t d, int64_t h, int64_t o, int64_t n)
{
    double *hidden = malloc(h * sizeof(double));
    double *out = malloc(o * sizeof(double));
    double acc = 0.0;
    for (int64_t i = 0; i < n; i++) {
        /* row i of x @ w1, accumulated row of w1 by row of w1 so the inner loop is
         * contiguous */
        for (int64_t c = 0; c < h; c++)
            hidden[c] = 0.0;
        for (int64_t j = 0; j < d; j++) {
            double xij = x[i * d + j];
            for (int64_t c = 0; c < h; c++)
                hidden[c] += xij * w1[j * h + c];
        }
        for (int64_t c = 0; c < h; c++)
            hidden[c] = tanh(hidden[c] + b1[c]);
        for (int64_t c = 0; c < o; c++)
            out[c] = 0.0;
        for (int64_t j = 0; j < h; j++)
            for (int64_t c = 0; c < o; c++)
                out[c] += hidden[j] * w2[j * o + c];
        for (int64_t c = 0; c < o; c++) {
            double err = out[c] + b2[c] - y[i * o + c];
            acc += err * err;
        }
    }
    free(hidden);
    free(out);
    return acc / (n * o);
}
