/* examples/lse.dp in C: log-sum-exp, shifted by the maximum so exp cannot overflow. */
#include <math.h>
#include <stdint.h>

double lse(const double *x, int64_t n)
{
    double m = x[0];
    for (int64_t i = 1; i < n; i++)
        if (x[i] > m)
            m = x[i];
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += exp(x[i] - m);
    return m + log(s);
}
