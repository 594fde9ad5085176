/* The C counterpart of the per-call overhead probe: the cost of a ctypes call. */
double add_one(double x)
{
    return x + 1.0;
}
