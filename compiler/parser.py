"""Parses .dp source into the syntax tree of compiler/ast.py.

lark's LALR parser builds the tree as it reduces (no recursion, however deep the input);
a small postlexer turns indentation into _INDENT/_DEDENT tokens. Every failure becomes a
`SyntaxErrorDP` with line, column and a sentence in the language's words, never lark's.
"""

from __future__ import annotations

import ast as pyast
import threading
from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from . import ast as A
from .diagnostics import SyntaxErrorDP

TYPE_NAMES = ("f64", "i64", "bool")
OPEN = {"LPAR": "(", "LSQB": "["}
CLOSE = {"RPAR": ")", "RSQB": "]"}
TAB = 8
PARSE_LOCK = threading.Lock()  # the postlexer keeps state during a parse


class SyntaxProblem(Exception):
    """Raised inside the lexer/transformer; turned into SyntaxErrorDP with the source."""

    def __init__(self, message: str, line: int, col: int):
        super().__init__(message)
        self.message, self.line, self.col = message, line, col


class Indentation:
    """Postlexer: indentation -> _INDENT/_DEDENT; newlines inside brackets are dropped.
    Also remembers open brackets so errors can say which one is not closed."""

    always_accept = ("_NL",)

    def process(self, stream):
        self.levels = [0]
        self.brackets: list[Token] = []
        last = None
        for token in stream:
            last = token
            if token.type == "_NL":
                if not self.brackets:
                    yield from self.newline(token)
                continue
            if token.type in OPEN:
                self.brackets.append(token)
            elif token.type in CLOSE:
                if not self.brackets:
                    raise SyntaxProblem(f"unmatched '{token.value}'", token.line, token.column)
                self.brackets.pop()
            yield token
        while len(self.levels) > 1:
            self.levels.pop()
            yield self.at("_DEDENT", last)

    def newline(self, token: Token):
        yield token
        indent_text = token.value.rsplit("\n", 1)[1]
        line = token.end_line
        if " " in indent_text and "\t" in indent_text:
            raise SyntaxProblem("indentation mixes tabs and spaces; use spaces only", line, 1)
        indent = indent_text.count(" ") + indent_text.count("\t") * TAB
        if indent > self.levels[-1]:
            self.levels.append(indent)
            yield Token("_INDENT", indent_text, line=line, column=indent + 1,
                        end_line=line, end_column=indent + 1)
            return
        while indent < self.levels[-1]:
            self.levels.pop()
            yield Token("_DEDENT", indent_text, line=line, column=indent + 1,
                        end_line=line, end_column=indent + 1)
        if indent != self.levels[-1]:
            raise SyntaxProblem("unindent does not match any outer indentation level",
                                line, indent + 1)

    @staticmethod
    def at(kind: str, token: Token | None) -> Token:
        line = token.end_line if token is not None else 1
        col = token.end_column if token is not None else 1
        return Token(kind, "", line=line, column=col, end_line=line, end_column=col)


def pos(x) -> tuple[int, int]:
    if isinstance(x, Token):
        return x.line, x.column
    return x.line, x.col


def start_pos(node) -> tuple[int, int]:
    """Where an expression begins in the text (operators are located at the operator)."""
    while True:
        if isinstance(node, (A.BinOp, A.Compare, A.BoolOp)):
            node = node.left
        elif isinstance(node, (A.Index, A.Attribute)):
            node = node.base
        elif isinstance(node, A.IfExp):
            node = node.body
        elif isinstance(node, A.Call):
            node = node.func
        else:
            return pos(node)


def present(children) -> list:
    """Children without lark's placeholders for absent optional parts."""
    return [c for c in children if c is not None]


def binary_chain(children, make):
    """[a, op, b, op, c] -> make(make(a, op, b), op, c), left-associative."""
    node = children[0]
    for k in range(1, len(children), 2):
        node = make(node, children[k], children[k + 1])
    return node


class ToAST(Transformer):
    """Builds compiler.ast nodes on each LALR reduction."""

    # --- module and functions
    def start(self, children):
        return [c for c in children if isinstance(c, A.FuncDef)]

    def funcdef(self, children):
        decorators = [c for c in children if isinstance(c, A.Decorator)]
        rest = children[len(decorators):]
        def_tok, name, params, _arrow, ret, body = rest
        line, col = pos(def_tok)
        return A.FuncDef(str(name), params or [], ret, body, decorators, line, col)

    def decorator(self, children):
        at, name, target = children
        return A.Decorator(str(name), str(target) if target is not None else None, *pos(at))

    def params(self, children):
        return present(children)

    def param(self, children):
        name, type_ = children
        return A.Param(str(name), type_, *pos(name))

    def scalar_type(self, children):
        (name,) = children
        check_type_name(name)
        return A.ScalarType(str(name), *pos(name))

    def array_type(self, children):
        name, *dims = present(children)
        check_type_name(name)
        return A.ArrayType(str(name), [dim_value(d) for d in dims], *pos(name))

    def tuple_type(self, children):
        types = present(children)
        return A.TupleType(types, *pos(types[0]))

    def paren_type(self, children):
        return children[0]

    # --- statements
    def suite(self, children):
        stmts = []
        for c in children:
            if isinstance(c, list):
                stmts.extend(c)
            elif c is not None and not isinstance(c, Token):
                stmts.append(c)
        return stmts

    def simple_stmt(self, children):
        return children[0]

    def assign_stmt(self, children):
        target, value = children
        line, col = pos(target)
        if isinstance(target, A.TupleLit):
            names = []
            for t in target.elems:
                if not isinstance(t, A.Name):
                    raise SyntaxProblem("only names can be unpacked into: a, b = ...", *pos(t))
                names.append(t.id)
            return A.TupleAssign(names, value, line, col)
        if isinstance(target, A.Name):
            return A.Assign(target.id, None, value, line, col)
        name, indices = index_target(target)
        return A.IndexAssign(name.id, indices, None, value, *pos(name))

    def ann_assign(self, children):
        name, type_, value = children
        return A.Assign(str(name), type_, value, *pos(name))

    def aug_assign(self, children):
        target, op, value = children
        line, col = pos(target)
        op = op.value[0]
        if isinstance(target, A.Name):
            return A.AugAssign(target.id, op, value, line, col)
        name, indices = index_target(target)
        return A.IndexAssign(name.id, indices, op, value, *pos(name))

    def return_stmt(self, children):
        tok, value = children
        if value is None:
            raise SyntaxProblem("return needs a value: every function returns one", *pos(tok))
        values = value.elems if isinstance(value, A.TupleLit) else [value]
        return A.Return(values, *pos(tok))

    def assert_stmt(self, children):
        tok, cond, message = children
        text = pyast.literal_eval(message.value) if message is not None else None
        return A.Assert(cond, text, *pos(tok))

    def pass_stmt(self, children):
        return A.Pass(*pos(children[0]))

    def expr_stmt(self, children):
        return A.ExprStmt(children[0], *start_pos(children[0]))

    def if_stmt(self, children):
        if_tok, cond, body, *rest = children
        clauses = [c for c in rest if isinstance(c, tuple)]
        tail = [c for c in rest if not isinstance(c, tuple)]
        orelse = tail[1] if len(tail) == 2 and tail[1] is not None else []
        for tok, c, b in reversed(clauses):
            orelse = [A.If(c, b, orelse, *pos(tok))]
        return A.If(cond, body, orelse, *pos(if_tok))

    def elif_clause(self, children):
        tok, cond, body = children
        return (tok, cond, body)

    def for_stmt(self, children):
        tok, var, iterable, body = children
        return A.For(str(var), range_arguments(iterable), body, *pos(tok))

    def while_stmt(self, children):
        tok, cond, body = children
        return A.While(cond, body, *pos(tok))

    # --- expressions
    def testlist(self, children):
        items = present(children)
        if len(items) == 1:
            return items[0]
        return A.TupleLit(items, *start_pos(items[0]))

    def if_exp(self, children):
        body, _if, cond, _else, orelse = children
        return A.IfExp(cond, body, orelse, *start_pos(body))

    def or_test(self, children):
        return binary_chain(children, lambda a, op, b: A.BoolOp("or", a, b, *pos(op)))

    def and_test(self, children):
        return binary_chain(children, lambda a, op, b: A.BoolOp("and", a, b, *pos(op)))

    def not_op(self, children):
        tok, operand = children
        return A.UnaryOp("not", operand, *pos(tok))

    def comparison(self, children):
        # a < b < c means a < b and b < c (b is pure, so evaluating it twice is harmless)
        pairs = [A.Compare(children[k].value, children[k - 1], children[k + 1], *pos(children[k]))
                 for k in range(1, len(children), 2)]
        node = pairs[0]
        for pair in pairs[1:]:
            node = A.BoolOp("and", node, pair, pair.line, pair.col)
        return node

    def arith(self, children):
        return binary_chain(children, lambda a, op, b: A.BinOp(op.value, a, b, *pos(op)))

    term = arith

    def unary_op(self, children):
        tok, operand = children
        return A.UnaryOp(tok.value, operand, *pos(tok))

    def pow_op(self, children):
        base, tok, exponent = children
        return A.BinOp("**", base, exponent, *pos(tok))

    def call(self, children):
        func, arguments = children
        args, kwargs = arguments if arguments is not None else ([], [])
        return A.Call(func, args, kwargs, *pos(func))

    def arguments(self, children):
        args, kwargs = [], []
        for item in present(children):
            if isinstance(item, A.Keyword):
                if any(k.name == item.name for k in kwargs):
                    raise SyntaxProblem(f"keyword argument '{item.name}' given twice", *pos(item))
                kwargs.append(item)
            elif kwargs:
                raise SyntaxProblem("positional argument after a keyword argument", *pos(item))
            else:
                args.append(item)
        return args, kwargs

    def generator_args(self, children):
        elem, (var, range_args) = children
        return [A.Generator(elem, var, range_args, *start_pos(elem))], []

    def keyword(self, children):
        name, value = children
        return A.Keyword(str(name), value, *pos(name))

    def index(self, children):
        base, bracket, *indices = present(children)
        return A.Index(base, indices, *pos(bracket))

    def attribute(self, children):
        base, dot, name = children
        return A.Attribute(base, str(name), *pos(dot))

    def name(self, children):
        (tok,) = children
        return A.Name(str(tok), *pos(tok))

    def int_lit(self, children):
        (tok,) = children
        value = int(tok.value)
        if value >= 2**63:
            raise SyntaxProblem(f"integer {value} does not fit in i64", *pos(tok))
        return A.Num(value, *pos(tok))

    def float_lit(self, children):
        (tok,) = children
        return A.Num(float(tok.value), *pos(tok))

    def true_lit(self, children):
        return A.Bool(True, *pos(children[0]))

    def false_lit(self, children):
        return A.Bool(False, *pos(children[0]))

    def tuple_lit(self, children):
        paren, *items = present(children)
        return A.TupleLit(items, *pos(paren))

    def list_lit(self, children):
        bracket, *items = present(children)
        return A.ListLit(items, *pos(bracket))

    def comprehension(self, children):
        bracket, elem, (var, range_args) = children
        return A.Comprehension(elem, var, range_args, *pos(bracket))

    def comp_for(self, children):
        _for, var, iterable = children
        return str(var), range_arguments(iterable)


def check_type_name(tok: Token) -> None:
    if tok.value not in TYPE_NAMES:
        raise SyntaxProblem(f"unknown type '{tok.value}'; types are f64, i64, bool, arrays "
                            f"like f64[n] and tuples", *pos(tok))


def dim_value(tok: Token):
    if tok.type == "INT":
        return int(tok.value)
    return str(tok.value)


def index_target(target):
    """`a[i][j]` as an assignment target -> (Name a, [i, j])."""
    indices = []
    node = target
    while isinstance(node, A.Index):
        indices = list(node.indices) + indices
        node = node.base
    if not isinstance(node, A.Name) or not indices:
        raise SyntaxProblem("cannot assign to this; assign to a name or an element a[i]",
                            *pos(target))
    return node, indices


def range_arguments(iterable) -> list:
    if (isinstance(iterable, A.Call) and isinstance(iterable.func, A.Name)
            and iterable.func.id == "range" and not iterable.kwargs):
        if not 1 <= len(iterable.args) <= 3:
            raise SyntaxProblem(f"range() takes 1 to 3 arguments, {len(iterable.args)} given",
                                *pos(iterable))
        return list(iterable.args)
    raise SyntaxProblem("only 'for NAME in range(...)' is supported", *pos(iterable))


# --------------------------------------------------------------------------- errors

NAMED_TOKENS = {
    "NAME": "a name", "INT": "a number", "FLOAT": "a number", "STRING": "a string",
    "_NL": "end of line", "_INDENT": "an indented block", "_DEDENT": "end of block",
    "$END": "end of file", "AUGOP": "'+=', '-=', '*=' or '/='",
    "COMP_OP": "a comparison", "ADD_OP": "'+' or '-'", "MUL_OP": "'*', '/', '//', '%' or '@'",
}


def describe_terminal(parser: Lark, name: str) -> str:
    if name in NAMED_TOKENS:
        return NAMED_TOKENS[name]
    try:
        pattern = parser.get_terminal(name).pattern
    except KeyError:
        return name.lower()
    return f"'{pattern.value}'" if pattern.type == "str" else name.lower()


def describe_token(token: Token) -> str:
    if token.type in ("_NL", "_INDENT", "_DEDENT", "$END"):
        return NAMED_TOKENS[token.type]
    if token.type == "NAME":
        return f"name '{token.value}'"
    return f"'{token.value}'"


def after_colon(token: Token, lines: list[str]) -> int | None:
    """The line number of the `...:` line just before `token`, when `token` starts its line."""
    if token.line is None or token.line < 2 or token.line > len(lines):
        return None
    text = lines[token.line - 1]
    if len(text) - len(text.lstrip()) != token.column - 1:
        return None
    for k in range(token.line - 2, -1, -1):
        code = lines[k].split("#", 1)[0].rstrip()
        if code:
            return k + 1 if code.endswith(":") else None
    return None


def unexpected_token_message(parser: Lark, err: UnexpectedToken, brackets: list,
                             lines: list[str]) -> str:
    token = err.token
    if token.type == "_INDENT":
        return "unexpected indentation"
    header = after_colon(token, lines)
    if header is not None:
        return f"expected an indented block after the ':' on line {header}"
    if token.type == "_NL" and "COLON" in err.expected:
        return "expected ':' at the end of the line"
    found = describe_token(token)
    expected = sorted({describe_terminal(parser, t) for t in err.expected})
    if brackets and token.type in ("$END", "_DEDENT") or brackets and token.line > brackets[-1].line:
        b = brackets[-1]
        return f"'{b.value}' opened at {b.line}:{b.column} is not closed before {found}"
    if token.type == "_DEDENT" and "an indented block" in expected:
        return "expected an indented block"
    if len(expected) == 1:
        return f"expected {expected[0]}, found {found}"
    if len(expected) <= 6:
        return f"unexpected {found} (expected {', '.join(expected[:-1])} or {expected[-1]})"
    return f"unexpected {found}"


@lru_cache(maxsize=1)
def make_parser() -> tuple[Lark, Indentation]:
    indentation = Indentation()
    grammar = (Path(__file__).parent / "grammar.lark").read_text()
    parser = Lark(grammar, parser="lalr", postlex=indentation, transformer=ToAST(),
                  maybe_placeholders=True)
    return parser, indentation


def parse(source: str, filename: str = "<source>") -> A.Module:
    """The syntax tree of `source`; raises SyntaxErrorDP for text that is not a program."""
    parser, indentation = make_parser()
    source = source.removeprefix("\ufeff")  # the byte order mark some editors write
    text = source if source.endswith("\n") else source + "\n"
    try:
        with PARSE_LOCK:
            functions = parser.parse(text)
    except SyntaxProblem as e:
        raise SyntaxErrorDP(e.message, e.line, e.col, filename=filename, source=source) from None
    except UnexpectedInput as e:
        raise syntax_error(parser, indentation, e, text, filename, source) from None
    return A.Module(functions, filename, source)


def syntax_error(parser, indentation, err, text, filename, source) -> SyntaxErrorDP:
    if isinstance(err, UnexpectedCharacters):
        char = text[err.pos_in_stream]
        message = "unterminated string" if char in "\"'" else f"unexpected character {char!r}"
        line, col = err.line, err.column
    elif isinstance(err, UnexpectedToken):
        message = unexpected_token_message(parser, err, getattr(indentation, "brackets", []),
                                           text.splitlines())
        line, col = err.token.line or err.line, err.token.column or err.column
    else:  # UnexpectedEOF
        message, line, col = "unexpected end of file", err.line, err.column
    line = max(1, min(line if isinstance(line, int) else 1, len(source.splitlines()) or 1))
    return SyntaxErrorDP(message, line, max(1, col if isinstance(col, int) else 1),
                         filename=filename, source=source)
