"""The verifier rejects malformed IR, naming the op and the broken rule."""

import pytest

from ir import Block, Function, Module, Op, parse_module, verify_module
from ir.errors import VerifyError
from ir.types import F64

GOOD = """\
func @f(%x: f64[n], %k: i64) -> f64 {
  %s = reduce_sum %x : f64
  %0 = const 0 : i64
  %1 = const 1 : i64
  %acc = for %0, %k, %1, %s : f64 {
  ^(%i: i64, %a: f64):
    %2 = mul %a, %a : f64
    yield %2
  }
  return %acc
}
"""


def verify_text(text):
    verify_module(parse_module(text))


def test_good_module_verifies():
    verify_text(GOOD)


CASES = [
    ("unknown op",
     "func @f(%x: f64) -> f64 {\n  %y = frobnicate %x : f64\n  return %y\n}\n",
     "2:3: @f: op 'frobnicate' (%y = frobnicate %x): unknown op 'frobnicate'"),
    ("operand count",
     "func @f(%x: f64) -> f64 {\n  %y = exp %x, %x : f64\n  return %y\n}\n",
     "2:3: @f: op 'exp' (%y = exp %x, %x): takes 1 operands, has 2"),
    ("type rule: element types",
     "func @f(%x: f64, %k: i64) -> f64 {\n  %y = add %x, %k : f64\n  return %y\n}\n",
     "2:3: @f: op 'add' (%y = add %x, %k): cannot add f64 and i64: element types differ"),
    ("type rule: dimensions",
     "func @f(%x: f64[n], %y: f64[m]) -> f64[n] {\n  %z = add %x, %y : f64[n]\n  return %z\n}\n",
     "2:3: @f: op 'add' (%z = add %x, %y): cannot add f64[n] and f64[m]: dimension n is not m"),
    ("declared result type",
     "func @f(%x: f64[n]) -> f64 {\n  %y = exp %x : f64\n  return %y\n}\n",
     "2:3: @f: op 'exp' (%y = exp %x): result types f64 do not match the type rule's f64[n]"),
    ("return type",
     "func @f(%x: f64[n]) -> f64 {\n  return %x\n}\n",
     "2:3: @f: op 'return' (return %x): returns f64[n] but the function is declared to return f64"),
    ("missing terminator",
     "func @f(%x: f64) -> f64 {\n  %y = exp %x : f64\n}\n",
     "2:3: @f: op 'exp' (%y = exp %x): block does not end in 'return'"),
    ("yield in function body",
     "func @f(%x: f64) -> f64 {\n  yield %x\n}\n",
     "2:3: @f: op 'yield' (yield %x): block does not end in 'return'"),
    ("region count",
     "func @f(%x: f64, %k: i64) -> f64 {\n  %y = for %k, %k, %k, %x : f64\n  return %y\n}\n",
     "2:3: @f: op 'for' (%y = for %k, %k, %k, %x): takes 1 regions, has 0"),
    ("missing attribute",
     "func @f(%x: f64[n]) -> i64 {\n  %y = dim %x : i64\n  return %y\n}\n",
     "2:3: @f: op 'dim' (%y = dim %x): missing attribute 'axis'"),
    ("value from an inner region used outside",
     "func @f(%x: f64, %k: i64) -> f64 {\n  %y = for %k, %k, %k, %x : f64 {\n  ^(%i: i64, %a: f64):\n"
     "    %t = exp %a : f64\n    yield %t\n  }\n  %z = add %y, %t : f64\n  return %z\n}\n",
     "7:3: @f: op 'add' (%z = add %y, %t): operand %t is not defined before this op in an enclosing scope"),
    ("a region's argument used after it",
     "func @f(%x: f64, %k: i64) -> f64 {\n  %y = for %k, %k, %k, %x : f64 {\n  ^(%i: i64, %a: f64):\n"
     "    yield %a\n  }\n  %z = add %y, %a : f64\n  return %z\n}\n",
     "6:3: @f: op 'add' (%z = add %y, %a): operand %a is not defined before this op in an enclosing scope"),
    ("loop yields the wrong type",
     "func @f(%x: f64, %k: i64) -> f64 {\n  %y = for %k, %k, %k, %x : f64 {\n  ^(%i: i64, %a: f64):\n"
     "    yield %i\n  }\n  return %y\n}\n",
     "2:3: @f: op 'for' (%y = for %k, %k, %k, %x): for region yields i64 where f64 is expected"),
    ("unbound dimension name",
     "func @f(%x: f64[n]) -> f64 {\n  %0 = const 0.0 : f64\n  %1 = const 3 : i64\n"
     "  %z = full %0, %1 : f64[k]\n  %s = reduce_sum %z : f64\n  return %s\n}\n",
     "4:3: @f: op 'full' (%z = full %0, %1): type f64[k] of %z uses dimension 'k', which no parameter binds"),
    ("call of an unknown function",
     "func @f(%x: f64) -> f64 {\n  %y = call %x {callee = @g} : f64\n  return %y\n}\n",
     "2:3: @f: op 'call' (%y = call %x): call to unknown function @g"),
    ("call with the wrong number of arguments",
     "func @g(%a: f64, %b: f64) -> f64 {\n  return %a\n}\n"
     "func @f(%x: f64) -> f64 {\n  %y = call %x {callee = @g} : f64\n  return %y\n}\n",
     "5:3: @f: op 'call' (%y = call %x): @g takes 2 arguments, 1 given"),
    ("index with a float",
     "func @f(%x: f64[n], %i: f64) -> f64 {\n  %y = index %x, %i : f64\n  return %y\n}\n",
     "2:3: @f: op 'index' (%y = index %x, %i): an index must be i64, got f64"),
    ("grad of an integer parameter",
     "func @g(%a: f64, %b: i64) -> f64 {\n  return %a\n}\n"
     "func @f(%x: f64) -> i64 {\n  %n = const 2 : i64\n"
     "  %y = grad %x, %n {callee = @g, wrt = [1]} : i64\n  return %y\n}\n",
     "6:3: @f: op 'grad' (%y = grad %x, %n): cannot differentiate with respect to b: it is i64, not f64"),
    ("terminator in the middle",
     "func @f(%x: f64) -> f64 {\n  return %x\n  %y = exp %x : f64\n  return %y\n}\n",
     "2:3: @f: op 'return' (return %x): terminator in the middle of a block"),
    ("reduce region yields nothing",
     "func @f(%x: f64[n]) -> f64 {\n  %n = dim %x {axis = 0} : i64\n  %0 = const 0 : i64\n"
     "  %1 = const 1 : i64\n  %s = reduce %0, %n, %1 {kind = \"sum\"} : f64 {\n  ^(%i: i64):\n"
     "    yield\n  }\n  return %s\n}\n",
     "5:3: @f: op 'reduce' (%s = reduce %0, %n, %1): the region must yield one value, it yields 0"),
    ("if condition not bool",
     "func @f(%x: f64) -> f64 {\n  %y = if %x : f64 {\n    yield %x\n  } {\n    yield %x\n  }\n  return %y\n}\n",
     "2:3: @f: op 'if' (%y = if %x): if condition must be bool, got f64"),
    ("empty region",
     "func @f(%x: f64, %k: i64) -> f64 {\n  %y = for %k, %k, %k, %x : f64 {\n  ^(%i: i64, %a: f64):\n"
     "  }\n  return %y\n}\n",
     "2:3: @f: op 'for' (%y = for %k, %k, %k, %x): its region is empty: it must end in 'yield'"),
    ("shape_cast to something not a type",
     "func @f(%x: f64[n]) -> f64[n] {\n  %y = shape_cast %x {type = 3} : f64[n]\n  return %y\n}\n",
     "2:3: @f: op 'shape_cast' (%y = shape_cast %x): the type attribute must be a type such "
     "as f64[n], got 3"),
    ("add_at without a value",
     "func @f(%x: f64[n]) -> f64[n] {\n  %y = add_at %x : f64[n]\n  return %y\n}\n",
     "2:3: @f: op 'add_at' (%y = add_at %x): add_at takes an array, a value and at least one "
     "index, got 1 operand"),
    ("an inbounds proof that is none of the known ones",
     "func @f(%x: f64[n], %i: i64) -> f64 {\n  %y = index %x, %i {inbounds = \"maybe\"} : f64\n"
     "  return %y\n}\n",
     "2:3: @f: op 'index' (%y = index %x, %i): inbounds must be true, false, \"wraps\", "
     "\"guarded\", \"repeated\" or \"assumed\", got \"maybe\""),
    ("an integer constant outside i64",
     "func @f() -> i64 {\n  %y = const 9223372036854775808 : i64\n  return %y\n}\n",
     "2:3: @f: op 'const' (%y = const): const value 9223372036854775808 does not fit in i64"),
]


# Recursion, which the language does not have (the front end refuses it in the same
# words), and custom rules whose signature is not a rule's: the verifier took both.
CASES += [
    # these raised ValueError from unpacking the operands, a traceback
    ("index without operands",
     "func @f() -> f64 {\n  %y = index : f64\n  return %y\n}\n",
     "2:3: @f: op 'index' (%y = index): index takes an array and at least one index, got 0 "
     "operands"),
    ("index without an index",  # it said "too many indices for f64[n]: 0 given"
     "func @f(%x: f64[n]) -> f64 {\n  %y = index %x : f64\n  return %y\n}\n",
     "2:3: @f: op 'index' (%y = index %x): index takes an array and at least one index, got 1 "
     "operand"),
    ("full without operands",
     "func @f() -> f64[3] {\n  %y = full : f64[3]\n  return %y\n}\n",
     "2:3: @f: op 'full' (%y = full): full takes a fill value and at least one dimension, got "
     "no operand"),
    # these raised TypeError (json.dumps of a symbol, a list as a dict key)
    ("an inbounds proof that is a function",
     "func @f(%x: f64[n], %i: i64) -> f64 {\n  %y = index %x, %i {inbounds = @f} : f64\n"
     "  return %y\n}\n",
     "2:3: @f: op 'index' (%y = index %x, %i): inbounds must be true, false, \"wraps\", "
     "\"guarded\", \"repeated\" or \"assumed\", got @f"),
    ("an inbounds proof that is a number",  # 1 == True passed for a proof
     "func @f(%x: f64[n], %i: i64) -> f64 {\n  %y = index %x, %i {inbounds = 1} : f64\n"
     "  return %y\n}\n",
     "2:3: @f: op 'index' (%y = index %x, %i): inbounds must be true, false, \"wraps\", "
     "\"guarded\", \"repeated\" or \"assumed\", got 1"),
    ("a reduction kind that is a list",
     "func @f(%k: i64) -> i64 {\n  %0 = const 0 : i64\n  %1 = const 1 : i64\n"
     "  %s = reduce %0, %k, %1 {kind = [0]} : i64 {\n  ^(%i: i64):\n    yield %i\n  }\n"
     "  return %s\n}\n",
     "4:3: @f: op 'reduce' (%s = reduce %0, %k, %1): unknown reduction kind [0]"),
    ("a reduction axis that is a bool",  # verified: the interpreter raised a TypeError
     "func @f(%x: f64[n]) -> f64 {\n  %0 = reduce_sum %x {axis = false} : f64\n  return %0\n}\n",
     "2:3: @f: op 'reduce_sum' (%0 = reduce_sum %x): axis must be an integer, got false"),
    ("a dim axis that is a bool",
     "func @f(%x: f64[n]) -> i64 {\n  %0 = dim %x {axis = true} : i64\n  return %0\n}\n",
     "2:3: @f: op 'dim' (%0 = dim %x): dim axis must be an integer, got true"),
    ("a wrt position that is a bool",  # verified as wrt = [1]
     "func @h(%a: f64, %b: f64) -> f64 {\n  %0 = mul %a, %b : f64\n  return %0\n}\n"
     "func @f(%x: f64) -> f64 {\n  %0 = grad %x, %x {callee = @h, wrt = [true]} : f64\n"
     "  return %0\n}\n",
     "6:3: @f: op 'grad' (%0 = grad %x, %x): wrt must be a list of parameter positions"),
    ("a const of a function",  # printed Symbol(name='f')
     "func @f() -> f64 {\n  %0 = const @f : f64\n  return %0\n}\n",
     "2:3: @f: op 'const' (%0 = const): const value must be a number or a boolean, got @f"),
    ("a function that calls itself",
     "func @f(%x: f64) -> f64 {\n  %y = call %x {callee = @f} : f64\n  return %y\n}\n",
     "2:3: @f: op 'call' (%y = call %x): recursion is not supported: @f calls itself"),
    ("functions that call each other",
     "func @f(%x: f64) -> f64 {\n  %y = call %x {callee = @g} : f64\n  return %y\n}\n"
     "func @g(%x: f64) -> f64 {\n  %y = exp %x : f64\n  %z = call %y {callee = @f} : f64\n"
     "  return %z\n}\n",
     "7:3: @g: op 'call' (%z = call %y): recursion is not supported: @f calls @g, which "
     "calls @f"),
    ("a rule that differentiates the function it is the rule of",
     "func @f(%x: f64) -> f64 attributes {derivative = @g} {\n  return %x\n}\n"
     "func @g(%x: f64, %ct: f64) -> f64 {\n  %y = grad %x {callee = @f, wrt = [0]} : f64\n"
     "  return %y\n}\n",
     "5:3: @g: op 'grad' (%y = grad %x): recursion is not supported: @g differentiates @f, "
     "whose @derivative rule is @g"),
    ("a derivative rule without the cotangent",
     "func @f(%x: f64) -> f64 attributes {derivative = @g} {\n  return %x\n}\n"
     "func @g(%x: f64) -> f64 {\n  return %x\n}\n",
     "1:1: @f: attribute derivative: a derivative rule of @f must take (f64, f64), but @g "
     "takes (f64)"),
    ("a derivative rule returning a scalar for an array",
     "func @f(%x: f64[n]) -> f64 attributes {derivative = @g} {\n  %s = reduce_sum %x : f64\n"
     "  return %s\n}\n"
     "func @g(%x: f64[n], %ct: f64) -> f64 {\n  return %ct\n}\n",
     "1:1: @f: attribute derivative: a derivative rule of @f must return f64[n], but @g "
     "returns f64"),
    ("a tangent rule of another size",
     "func @f(%x: f64[n]) -> f64[n] attributes {tangent = @t} {\n  return %x\n}\n"
     "func @t(%x: f64[n], %dx: f64[n]) -> f64[3] {\n  %y = shape_cast %dx {type = f64[3]} : f64[3]\n"
     "  return %y\n}\n",
     "1:1: @f: attribute tangent: a tangent rule of @f must return f64[n], but @t returns "
     "f64[3]"),
]


@pytest.mark.parametrize("kind,text,message", CASES, ids=[c[0] for c in CASES])
def test_verifier_rejects(kind, text, message):
    with pytest.raises(VerifyError) as err:
        verify_text(text)
    assert str(err.value) == message


def test_value_defined_twice_is_rejected():
    # The text parser refuses duplicate names, so build the broken IR directly.
    module = Module()
    body = Block([F64], ["x"])
    op = Op("exp", [body.args[0]], [F64], result_names=["y"])
    body.ops = [op, op, Op("return", [op.result], [])]
    module.add(Function("f", body, [F64]))
    with pytest.raises(VerifyError) as err:
        verify_module(module)
    assert str(err.value) == "@f: op 'exp' (%y = exp %x): value %y is defined twice"


def test_function_attribute_naming_unknown_function():
    text = "func @f(%x: f64) -> f64 attributes {derivative = @nowhere} {\n  return %x\n}\n"
    with pytest.raises(VerifyError) as err:
        verify_text(text)
    assert str(err.value) == "1:1: @f: attribute derivative names unknown function @nowhere"


def test_function_attribute_that_is_not_a_function():
    text = "func @f(%x: f64) -> f64 attributes {derivative = 3} {\n  return %x\n}\n"
    with pytest.raises(VerifyError) as err:
        verify_text(text)
    assert str(err.value) == "1:1: @f: attribute derivative must name a function (@name), got 3"


def chain(length: int, back_to: int | None = None) -> str:
    """@f0 calls @f1 ... calls @f(length-1), which multiplies, or calls @f(back_to)."""
    text = []
    for k in range(length):
        last = f"@f{back_to}" if back_to is not None else None
        callee = f"@f{k + 1}" if k < length - 1 else last
        body = f"  %y = call %x {{callee = {callee}}} : f64\n" if callee else "  %y = mul %x, %x : f64\n"
        text.append(f"func @f{k}(%x: f64) -> f64 {{\n{body}  return %y\n}}\n")
    return "".join(text)


def test_a_long_chain_of_calls_verifies_and_its_cycle_is_found():
    # the search for recursion went one Python frame per call: a RecursionError at ~1000
    verify_text(chain(3000))
    with pytest.raises(VerifyError) as err:
        verify_text(chain(3000, back_to=2997))
    assert str(err.value) == ("11998:3: @f2999: op 'call' (%y = call %x): recursion is not "
                              "supported: @f2997 calls @f2998, which calls @f2999, which "
                              "calls @f2997")
