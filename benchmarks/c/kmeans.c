/* examples/kmeans.dp in C: sum over points of the squared distance to the nearest
 * centroid. points is n x d, centroids k x d. */
#include <stdint.h>

double kmeans(const double *points, const double *centroids, int64_t n, int64_t k, int64_t d)
{
    double cost = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double best = 0.0;
        for (int64_t j = 0; j < k; j++) {
            double dist = 0.0;
            for (int64_t r = 0; r < d; r++) {
                double diff = points[i * d + r] - centroids[j * d + r];
                dist += diff * diff;
            }
            if (j == 0 || dist < best)
                best = dist;
        }
        cost += best;
    }
    return cost;
}
