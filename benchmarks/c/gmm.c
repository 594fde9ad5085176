/* examples/gmm.dp in C: GradBench's GMM log posterior (ADBench's objective with the
 * Wishart prior added as a log density). Component j's lower-triangular factor Q is
 * packed in icf[j*t .. j*t+t), t = d(d+1)/2: the d logs of its diagonal, then its
 * strictly lower triangle column by column. As in the .dp program, each Q_j is unpacked
 * once into a dense d x d matrix, and Q_j x_i - Q_j mu_j is computed for every point. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define PI 3.141592653589793

static double log_sum_exp(const double *v, int64_t k)
{
    double m = v[0];
    for (int64_t j = 1; j < k; j++)
        if (v[j] > m)
            m = v[j];
    double s = 0.0;
    for (int64_t j = 0; j < k; j++)
        s += exp(v[j] - m);
    return m + log(s);
}

/* Position in a packed row of Q[r, c], r > c (column-major packing). */
static int64_t ltri_index(int64_t d, int64_t r, int64_t c)
{
    return d + c * (2 * d - c - 1) / 2 + (r - c - 1);
}

/* log Gamma_p(a), the multivariate gamma function. */
static double log_multigamma(double a, int64_t p)
{
    double out = 0.25 * p * (p - 1) * log(PI);
    for (int64_t j = 1; j <= p; j++)
        out += lgamma(a + 0.5 * (1 - j));
    return out;
}

/* Sum over components of the log Wishart density of Q_j^T Q_j (scale I / gamma^2,
 * d + m + 1 degrees of freedom): added with a plus sign, as GradBench corrects ADBench. */
static double log_wishart_prior(const double *icf, int64_t k, int64_t d, double gamma,
                                int64_t m)
{
    int64_t t = d * (d + 1) / 2;
    int64_t dof = d + m + 1;
    double norm = dof * d * (log(gamma) - 0.5 * log(2.0)) - log_multigamma(0.5 * dof, d);
    double out = 0.0;
    for (int64_t j = 0; j < k; j++) {
        const double *row = icf + j * t;
        double sum_log_diag = 0.0, diag = 0.0, lower = 0.0;
        for (int64_t r = 0; r < d; r++) {
            double e = exp(row[r]);
            sum_log_diag += row[r];
            diag += e * e;
        }
        for (int64_t r = d; r < t; r++)
            lower += row[r] * row[r];
        out += m * sum_log_diag - 0.5 * gamma * gamma * (diag + lower);
    }
    return k * norm + out;
}

double gmm(const double *alphas, const double *means, const double *icf, const double *x,
           int64_t k, int64_t d, int64_t n, double gamma, int64_t m)
{
    int64_t t = d * (d + 1) / 2;
    double *sum_qs = malloc(k * sizeof(double));
    double *inner = malloc(k * sizeof(double));
    double *q = malloc(k * d * d * sizeof(double));  /* Q_j, dense and row-major */
    double *qmu = malloc(k * d * sizeof(double));    /* Q_j mu_j */
    for (int64_t j = 0; j < k; j++) {
        const double *row = icf + j * t;
        sum_qs[j] = 0.0;
        for (int64_t r = 0; r < d; r++) {
            sum_qs[j] += row[r];
            for (int64_t c = 0; c < d; c++)
                q[(j * d + r) * d + c] = r == c ? exp(row[r])
                                       : r > c ? row[ltri_index(d, r, c)] : 0.0;
        }
        for (int64_t r = 0; r < d; r++) {
            double s = 0.0;
            for (int64_t c = 0; c < d; c++)
                s += q[(j * d + r) * d + c] * means[j * d + c];
            qmu[j * d + r] = s;
        }
    }
    double slse = 0.0;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < k; j++) {
            /* |Q_j x_i - Q_j mu_j|^2 */
            double norm2 = 0.0;
            for (int64_t r = 0; r < d; r++) {
                double s = 0.0;
                for (int64_t c = 0; c < d; c++)
                    s += q[(j * d + r) * d + c] * x[i * d + c];
                double diff = s - qmu[j * d + r];
                norm2 += diff * diff;
            }
            inner[j] = alphas[j] + sum_qs[j] - 0.5 * norm2;
        }
        slse += log_sum_exp(inner, k);
    }
    free(sum_qs);
    free(inner);
    free(q);
    free(qmu);
    double log_likelihood = -0.5 * n * d * log(2.0 * PI) + slse - n * log_sum_exp(alphas, k);
    return log_likelihood + log_wishart_prior(icf, k, d, gamma, m);
}
