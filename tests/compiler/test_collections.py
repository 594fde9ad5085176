"""While compiling, Python's cyclic collector runs after 100,000 allocations instead of
700 (compiler.driver.fewer_collections), and the recursion limit is raised
(deep_expressions); the program's own settings are back afterwards, also when compiles
in several threads overlap."""

import gc
import os
import sys
import threading
import warnings

import numpy as np
import pytest

import passes.fusion
from compiler import compile_source
from compiler.driver import FRONT_END_FRAMES, compiling, deep_expressions, fewer_collections

SOURCE = "def f(x: f64[n]) -> f64:\n    return sum(exp(x) * 2.0)\n"


@pytest.fixture
def thresholds():
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def thresholds_while_compiling(monkeypatch, backend):
    seen = []
    apply = passes.fusion.Fusion.apply
    monkeypatch.setattr(passes.fusion.Fusion, "apply",
                        lambda self, module: seen.append(gc.get_threshold()) or apply(self, module))
    mod = compile_source(SOURCE, backend=backend)
    mod._scalarize()
    assert mod.grad("f")(np.zeros(3)).tolist() == [2.0, 2.0, 2.0]
    return seen


@pytest.mark.parametrize("backend", ["native", "interp"])
def test_collections_are_fewer_while_compiling_and_as_set_after(monkeypatch, thresholds, backend):
    gc.set_threshold(700, 10, 10)
    seen = thresholds_while_compiling(monkeypatch, backend)
    assert set(seen) == {(100_000, 10, 10)} and len(seen) == (2 if backend == "native" else 1)
    assert gc.get_threshold() == (700, 10, 10)


def test_a_program_that_turned_collection_off_keeps_it_off(monkeypatch, thresholds):
    gc.set_threshold(0, 10, 10)
    seen = thresholds_while_compiling(monkeypatch, "native")
    assert set(seen) == {(0, 10, 10)} and gc.get_threshold() == (0, 10, 10)


def test_a_higher_threshold_is_kept(monkeypatch, thresholds):
    gc.set_threshold(500_000, 20, 30)
    seen = thresholds_while_compiling(monkeypatch, "native")
    assert set(seen) == {(500_000, 20, 30)} and gc.get_threshold() == (500_000, 20, 30)


def test_overlapping_compiles_put_back_the_programs_setting_when_the_last_ends(thresholds):
    # two threads' compiles: the first to end must not put back 700 under the second,
    # nor the second the raised value it found when it started
    gc.set_threshold(700, 10, 10)
    first, second = fewer_collections(), fewer_collections()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold() == (100_000, 10, 10)
    second.__exit__(None, None, None)
    assert gc.get_threshold() == (700, 10, 10)


def test_overlapping_compiles_put_back_the_recursion_limit_when_the_last_ends():
    # it stayed raised for good (a deep recursion later crashed the process), or a compile
    # that ended lowered it under another thread's deep compile, which then failed
    limit = sys.getrecursionlimit()
    first, second = deep_expressions(), deep_expressions()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert sys.getrecursionlimit() == max(limit, FRONT_END_FRAMES)
    second.__exit__(None, None, None)
    assert sys.getrecursionlimit() == limit


def test_compiles_in_threads_leave_the_programs_settings_as_they_were():
    limit, thresholds = sys.getrecursionlimit(), gc.get_threshold()
    deep = "def f(a: f64) -> f64:\n    return " + " + ".join(["a"] * 1500) + "\n"
    results = []
    def compile_and_run(k):
        source, args = (SOURCE, [np.ones(2)]) if k % 2 else (deep, [1.0])
        results.append(compile_source(source, backend="interp").run("f", *args))

    threads = [threading.Thread(target=compile_and_run, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [2 * np.e + 2 * np.e] * 3 + [1500.0] * 3
    assert (sys.getrecursionlimit(), gc.get_threshold()) == (limit, thresholds)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_while_a_thread_compiles_has_the_programs_settings():
    # the child inherited one compile running, which no thread of its own would end:
    # its collections waited for 100,000 allocations and its recursion limit stayed
    # raised for good, through its own compiles too
    limit, thresholds = sys.getrecursionlimit(), gc.get_threshold()
    entered, leave = threading.Event(), threading.Event()

    def compile_slowly():
        with compiling():
            entered.set()
            leave.wait()
    thread = threading.Thread(target=compile_slowly)
    thread.start()
    entered.wait()
    assert gc.get_threshold() != thresholds
    with warnings.catch_warnings():  # Python 3.12+ warns of forking with threads
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        code = 1
        try:
            compile_source(SOURCE, backend="interp")
            code = 0 if (sys.getrecursionlimit(), gc.get_threshold()) == (limit, thresholds) else 2
        finally:
            os._exit(code)
    status = os.waitpid(pid, 0)[1]
    leave.set()
    thread.join()
    assert os.waitstatus_to_exitcode(status) == 0
    assert (sys.getrecursionlimit(), gc.get_threshold()) == (limit, thresholds)
