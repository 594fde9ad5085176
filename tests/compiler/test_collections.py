"""While compiling, Python's cyclic collector runs after 100,000 allocations instead of
700 (compiler.driver.fewer_collections); the program's own setting is back afterwards."""

import gc

import numpy as np
import pytest

import passes.fusion
from compiler import compile_source
from compiler.driver import fewer_collections

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
    mod.scalarize()
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
