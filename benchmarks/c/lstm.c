/* examples/lstm.dp in C: the ADBench LSTM objective. main_params is r x 4b (rows 2i and
 * 2i+1: layer i's weights and biases, gates forget, input, output, candidate),
 * extra_params 3 x b, state r x b (hidden and cell of each layer), sequence c x b. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Two branches so exp never overflows, as dpc's sigmoid. */
static double sigmoid(double z)
{
    double e = exp(-fabs(z));
    return z >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

/* One cell, in place: hidden and cell of a layer from its input. */
static void lstm_cell(const double *w, const double *bias, int64_t b, double *hidden,
                      double *cell, const double *input)
{
    for (int64_t j = 0; j < b; j++) {
        double forget = sigmoid(input[j] * w[j] + bias[j]);
        double ingate = sigmoid(hidden[j] * w[b + j] + bias[b + j]);
        double outgate = sigmoid(input[j] * w[2 * b + j] + bias[2 * b + j]);
        double change = tanh(hidden[j] * w[3 * b + j] + bias[3 * b + j]);
        cell[j] = cell[j] * forget + ingate * change;
        hidden[j] = outgate * tanh(cell[j]);
    }
}

double lstm(const double *main_params, const double *extra_params, const double *state,
            const double *sequence, int64_t r, int64_t b, int64_t c)
{
    int64_t layers = r / 2;
    double *s = malloc(r * b * sizeof(double)); /* the state is an input: work on a copy */
    double *x = malloc(b * sizeof(double));
    double *ypred = malloc(b * sizeof(double));
    memcpy(s, state, r * b * sizeof(double));
    double total = 0.0;
    for (int64_t t = 0; t < c - 1; t++) {
        for (int64_t j = 0; j < b; j++)
            x[j] = sequence[t * b + j] * extra_params[j];
        for (int64_t layer = 0; layer < layers; layer++) {
            double *h = s + 2 * layer * b;
            lstm_cell(main_params + 2 * layer * 4 * b, main_params + (2 * layer + 1) * 4 * b,
                      b, h, h + b, x);
            memcpy(x, h, b * sizeof(double));
        }
        double sumexp = 0.0;
        for (int64_t j = 0; j < b; j++) {
            ypred[j] = x[j] * extra_params[b + j] + extra_params[2 * b + j];
            sumexp += exp(ypred[j]);
        }
        double lognorm = log(sumexp + 2.0);
        double step = 0.0;
        for (int64_t j = 0; j < b; j++)
            step += sequence[(t + 1) * b + j] * (ypred[j] - lognorm);
        total += step;
    }
    free(s);
    free(x);
    free(ypred);
    return -total / ((c - 1) * b);
}
