"""The front end and public API of dpc: parse, type-check and lower `.dp` programs, and
call the compiled functions from Python."""

from .diagnostics import CompileError, SyntaxErrorDP, TypeErrorDP
from .driver import CompiledFunction, CompiledModule, check_source, compile_file, compile_source

__all__ = ["compile_file", "compile_source", "check_source", "CompiledModule",
           "CompiledFunction", "CompileError", "SyntaxErrorDP", "TypeErrorDP"]
