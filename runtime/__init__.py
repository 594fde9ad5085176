"""Runtime: IR to native code with llvmlite (filled in by the JIT work)."""
