/* Subnormal arithmetic on or off for the calling thread, for benchmarks/gradient.py's ode
 * table: at the large size the ODE's state and adjoint pass through the subnormal range,
 * where the CPU takes a slow path for every operation that reads or makes such a number.
 * On x86-64 `on` sets MXCSR's flush-to-zero and denormals-are-zero bits (clears them for
 * on = 0) and returns 1; elsewhere it does nothing and returns 0. */
#if defined(__x86_64__)
#include <xmmintrin.h>

int flush_subnormals(int on)
{
    const unsigned int bits = 0x8000 | 0x0040; /* FTZ, DAZ */
    unsigned int csr = _mm_getcsr();
    _mm_setcsr(on ? csr | bits : csr & ~bits);
    return 1;
}
#else
int flush_subnormals(int on)
{
    (void)on;
    return 0;
}
#endif
