"""The on-disk object cache: a second compile of the same program loads machine code,
gives identical results, and the cache can be turned off and cleared."""

import numpy as np
import pytest

import runtime
from compiler import compile_source

SOURCE = "def f(x: f64[n]) -> f64:\n    assert x[0] > 0.0, \"first must be positive\"\n    return sum(x * x)\n"


@pytest.fixture
def cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("DPC_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("DPC_CACHE", raising=False)
    return tmp_path


def test_second_compile_comes_from_the_cache(cache_folder):
    first = compile_source(SOURCE, name="c.dp")
    second = compile_source(SOURCE, name="c.dp")
    assert (first._native.from_cache, second._native.from_cache) == (False, True)
    x = np.array([1.0, 2.0, 3.0])
    assert first.f(x) == second.f(x) == 14.0
    with pytest.raises(AssertionError) as err:  # error sites come back from the cache too
        second.f(-x)
    assert str(err.value) == "first must be positive (at c.dp:2:5)"
    assert sorted(p.suffix for p in cache_folder.iterdir()) == [".json", ".o"]


def test_key_covers_source_locations(cache_folder):
    compile_source(SOURCE, name="c.dp")
    other = compile_source(SOURCE, name="other.dp")  # same IR, other file name
    assert not other._native.from_cache
    with pytest.raises(AssertionError) as err:
        other.f(-np.ones(2))
    assert str(err.value) == "first must be positive (at other.dp:2:5)"


def test_cache_can_be_turned_off_and_cleared(cache_folder, monkeypatch):
    compile_source(SOURCE, name="c.dp")
    assert runtime.clear_cache() == 2
    assert list(cache_folder.iterdir()) == []
    monkeypatch.setenv("DPC_CACHE", "0")
    assert not compile_source(SOURCE, name="c.dp")._native.from_cache
    assert not compile_source(SOURCE, name="c.dp")._native.from_cache
    assert list(cache_folder.iterdir()) == []


def test_the_llvm_stage_does_not_depend_on_the_cache(cache_folder):
    # after a miss, stage llvm printed the module code generation had rewritten in place
    # (%sunkaddr, a datalayout line), and asm was made from that rewritten module
    missed = compile_source(SOURCE, name="c.dp")
    loaded = compile_source(SOURCE, name="c.dp")
    assert (missed._native.from_cache, loaded._native.from_cache) == (False, True)
    llvm = loaded.ir(stage="llvm")
    assert missed.ir(stage="llvm") == llvm and "sunkaddr" not in llvm
    assert missed.ir(stage="asm") == loaded.ir(stage="asm") == missed.ir(stage="asm")
    assert missed.ir(stage="llvm") == llvm


def test_without_a_home_directory_nothing_is_cached(monkeypatch):
    # a container run as a user the system does not know, without HOME: Path.home()
    # raised 'Could not determine home directory' out of every compile
    import pwd

    def unknown_user(uid):
        raise KeyError(f"getpwuid(): uid not found: {uid}")
    for name in ("DPC_CACHE_DIR", "XDG_CACHE_HOME", "HOME", "DPC_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pwd, "getpwuid", unknown_user)
    mod = compile_source(SOURCE, name="c.dp")
    assert not mod._native.from_cache and mod.f(np.array([1.0, 2.0])) == 5.0
    assert not compile_source(SOURCE, name="c.dp")._native.from_cache
    assert runtime.clear_cache() == 0


@pytest.mark.parametrize("damage", ["object cut short", "object overwritten", "table emptied",
                                    "table of another shape", "table nested too deep"])
def test_a_damaged_entry_is_a_miss(cache_folder, damage):
    # it was handed to LLVM as it was: a cut object file crashed the process
    compile_source(SOURCE, name="c.dp")
    (obj,) = cache_folder.glob("*.o")
    (table,) = cache_folder.glob("*.json")
    if damage == "object cut short":
        obj.write_bytes(obj.read_bytes()[:200])
    elif damage == "object overwritten":
        obj.write_bytes(b"garbage\n")
    elif damage == "table emptied":
        table.write_text("[]")
    elif damage == "table nested too deep":  # json raised RecursionError, not ValueError
        table.write_text("[" * 100_000 + "]" * 100_000)
    else:
        table.write_text('{"a": 1}')
    again = compile_source(SOURCE, name="c.dp")
    assert not again._native.from_cache
    with pytest.raises(AssertionError) as err:
        again.f(-np.ones(2))
    assert str(err.value) == "first must be positive (at c.dp:2:5)"
    assert compile_source(SOURCE, name="c.dp")._native.from_cache  # stored again, whole


def test_another_entry_copied_over_one_is_a_miss(cache_folder):
    # its files are whole and agree with each other: it ran the other program's code
    compile_source(SOURCE, name="c.dp")
    entry = {p.suffix: p for p in cache_folder.iterdir()}
    compile_source("def f(x: f64[n]) -> f64:\n    return max(x) * 100.0\n", name="c.dp")
    other = {p.suffix: p for p in cache_folder.iterdir() if p.stem != entry[".o"].stem}
    for suffix in (".o", ".json"):
        entry[suffix].write_bytes(other[suffix].read_bytes())
    again = compile_source(SOURCE, name="c.dp")
    assert not again._native.from_cache
    assert again.f(np.array([1.0, 2.0, 3.0])) == 14.0


def test_clearing_leaves_other_files_in_a_shared_folder(cache_folder):
    (cache_folder / "package.json").write_text("{}")
    (cache_folder / "main.o").write_bytes(b"x")
    compile_source(SOURCE, name="c.dp")
    assert runtime.clear_cache() == 2
    assert sorted(p.name for p in cache_folder.iterdir()) == ["main.o", "package.json"]


def test_a_write_that_fails_leaves_no_temporary_file(cache_folder, monkeypatch):
    # a full disk fails the write: the half-written temporary stayed in the folder,
    # where clear_cache() does not look (it is not named like an entry)
    def full_disk(*args):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr("runtime.cache.os.replace", full_disk)
    mod = compile_source(SOURCE, name="c.dp")
    assert mod.f(np.array([1.0, 2.0])) == 5.0
    assert list(cache_folder.iterdir()) == []
