"""Parses .dp source into the syntax tree of compiler/ast.py.

lark's LALR parser builds the tree as it reduces (no recursion, however deep the input);
a small postlexer turns indentation into _INDENT/_DEDENT tokens. Every failure becomes a
`SyntaxErrorDP` with line, column and a sentence in the language's words, never lark's.
"""

from __future__ import annotations

import ast as pyast
import itertools
import keyword
import threading
from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from . import ast as A
from .diagnostics import ONE_TUPLE, SyntaxErrorDP, source_lines
from .syntax_errors import (LAYOUT, ONLY_RANGE_LOOPS, TYPE_NAMES, SyntaxProblem,
                            character_message, no_lone_surrogate, unexpected_token_problem)

OPEN = {"LPAR": "(", "LSQB": "["}
CLOSE = {"RPAR": ")", "RSQB": "]"}
TAB = 8
PARSE_LOCK = threading.Lock()  # the postlexer keeps state during a parse


# Python's tokenizer refuses a 100th level of indentation; so do we (every pass after the
# parser recurses a few frames per nested block).
MAX_BLOCK_DEPTH = 99


class Indentation:
    """Postlexer: indentation -> _INDENT/_DEDENT; newlines inside brackets are dropped.
    Also remembers open brackets and the tokens of the current statement, so that errors
    can say which bracket is not closed and read the statement around a bad token."""

    always_accept = ("_NL",)

    def process(self, stream):
        # Each open block's indentation, counted with a tab as 8 columns and as 1: the two
        # counts must nest the same way, or the block structure depends on the tab width.
        self.levels = [(0, 0)]
        self.brackets: list[Token] = []
        self.statement: list[Token] = []
        self.statement_ended = False  # the next token starts a new statement
        last = None
        for token in stream:
            last = token
            if token.type == "_NL":
                if not self.brackets:
                    self.statement_ended = True
                    yield from self.newline(token)
                continue
            if self.statement_ended:
                self.statement, self.statement_ended = [], False
            elif self.statement:
                check_keyword_apart(self.statement[-1], token)
            self.statement.append(token)
            self.match_brackets(token)
            yield token
        if self.brackets:
            bracket = self.brackets[-1]
            raise SyntaxProblem(f"'{bracket.value}' opened at {bracket.line}:{bracket.column} "
                                f"is not closed before end of file", bracket.line, bracket.column)
        while len(self.levels) > 1:
            self.levels.pop()
            yield self.at("_DEDENT", last)

    def tokens_before(self, token: Token) -> list[Token]:
        """The tokens of `token`'s statement before it. A token that no parser state could
        take never reaches the postlexer: it follows the tokens seen so far."""
        if token.type in LAYOUT and token.type != "_NL":
            return []
        if self.statement and self.statement[-1] is token:
            return self.statement[:-1]
        if self.statement_ended and token.type != "_NL":
            return []
        return list(self.statement)

    def match_brackets(self, token: Token) -> None:
        if token.type in OPEN:
            self.brackets.append(token)
        elif token.type in CLOSE:
            if not self.brackets:
                raise SyntaxProblem(f"unmatched '{token.value}'", token.line, token.column)
            self.brackets.pop()

    def newline(self, token: Token):
        yield token
        indent_text = token.value.rsplit("\n", 1)[1]
        line, col = token.end_line, len(indent_text) + 1
        change = self.open_or_close_blocks(indent_text, line)
        kind, count = ("_INDENT", 1) if change == "indent" else ("_DEDENT", change)
        for _ in range(count):
            yield Token(kind, indent_text, line=line, column=col, end_line=line, end_column=col)

    def open_or_close_blocks(self, indent_text: str, line: int) -> str | int:
        """Opens or closes blocks for a line indented by `indent_text`; returns what
        `block_change` says, after checking that it does not depend on the width of a tab."""
        if " " in indent_text and "\t" in indent_text:
            raise SyntaxProblem("indentation mixes tabs and spaces; use spaces only", line, 1)
        widths = (len(indent_text.expandtabs(TAB)), len(indent_text))
        changes = {block_change([level[k] for level in self.levels], widths[k]) for k in (0, 1)}
        if len(changes) > 1:
            raise SyntaxProblem("inconsistent use of tabs and spaces in indentation; indent "
                                "with spaces only", line, 1)
        (change,) = changes
        if change is None:
            raise SyntaxProblem("unindent does not match any outer indentation level",
                                line, len(indent_text) + 1)
        if change == "indent" and len(self.levels) > MAX_BLOCK_DEPTH:
            raise SyntaxProblem(f"too many levels of indentation: blocks nest at most "
                                f"{MAX_BLOCK_DEPTH} deep, as in Python; move the inner "
                                f"blocks into a function", line, len(indent_text) + 1)
        if change == "indent":
            self.levels.append(widths)
        else:
            del self.levels[len(self.levels) - change:]
        return change

    @staticmethod
    def at(kind: str, token: Token | None) -> Token:
        line = token.end_line if token is not None else 1
        col = token.end_column if token is not None else 1
        return Token(kind, "", line=line, column=col, end_line=line, end_column=col)


def block_change(levels: list[int], width: int) -> str | int | None:
    """What a line indented `width` does to blocks indented `levels`: "indent" opens one,
    k closes k (0 continues the innermost), None matches no level."""
    if width > levels[-1]:
        return "indent"
    if width in levels:
        return len(levels) - 1 - levels.index(width)
    return None


def pos(x) -> tuple[int, int]:
    if isinstance(x, Token):
        return x.line, x.column
    return x.line, x.col


def start_pos(node) -> tuple[int, int]:
    """Where an expression begins in the text (operators are located at the operator)."""
    return pos(A.leftmost(node))


def present(children) -> list:
    """Children without lark's placeholders for absent optional parts."""
    return [c for c in children if c is not None]


def binary_chain(children, make):
    """[a, op, b, op, c] -> make(make(a, op, b), op, c), left-associative."""
    node = children[0]
    for k in range(1, len(children), 2):
        node = make(node, children[k], children[k + 1])
    return node


def one_name_unpacked(target, value) -> str:
    """For a, = x (also (a,) = x and [a] = x): Python unpacks a 1-tuple or a 1-element
    array; .dp has no 1-tuples and unpacks no arrays (a, b = x is an error too)."""
    name = target.id if isinstance(target, A.Name) else "a"
    if isinstance(value, A.Name):
        write = f"write {name} = {value.id} to bind the value, or {name} = {value.id}[0] for " \
                f"an array's first element"
    else:
        write = f"write {name} = ... to bind the value, indexing it with [0] for an array's " \
                f"first element"
    return f"there is one name to unpack into, and .dp has no 1-tuples: {write}"


def is_int_literal(node, value: int) -> bool:
    return isinstance(node, A.Num) and type(node.value) is int and node.value == value


class ToAST(Transformer):
    """Builds compiler.ast nodes on each LALR reduction."""

    # --- module and functions
    def start(self, children):
        return [c for c in children if isinstance(c, A.FuncDef)]

    def docstring(self, children):
        return None  # it documents; it computes nothing

    def funcdef(self, children):
        decorators = [c for c in children if isinstance(c, A.Decorator)]
        rest = children[len(decorators):]
        def_tok, name, params, _arrow, ret, body = rest
        line, col = pos(def_tok)
        return A.FuncDef(bound_name(name), params or [], ret, body, decorators, line, col,
                         name_col=name.column)

    def decorator(self, children):
        at, name, paren, arguments = children
        if paren is None:
            return A.Decorator(str(name), None, *pos(at))
        args, kwargs = arguments if arguments is not None else ([], [])
        one_name = len(args) == 1 and not kwargs and isinstance(args[0], A.Name)
        target = args[0] if one_name else None
        return A.Decorator(str(name), target and target.id, *pos(at),
                           target_col=target.col if target else 0, args=args, kwargs=kwargs,
                           paren_col=paren.column)

    def params(self, children):
        return present(children)

    def param(self, children):
        name, type_ = children
        return A.Param(bound_name(name), type_, *pos(name))

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

    body = suite  # a function's suite, whose docstring is None

    def simple_stmt(self, children):
        return children[0]

    def assign_stmt(self, children):
        target, value = children
        line, col = pos(target)
        if isinstance(target, (A.TupleLit, A.ListLit)) and len(target.elems) == 1:
            raise SyntaxProblem(one_name_unpacked(target.elems[0], value), line, col)
        if isinstance(target, (A.TupleLit, A.ListLit)):  # [a, b] = ... too, as in Python
            # each target is an assignment whose value the unpacking gives
            targets = [assignment_to(t, None) for t in target.elems]
            return A.TupleAssign(targets, value, line, col)
        return assignment_to(target, value)

    def ann_assign(self, children):
        name, type_, value = children
        return A.Assign(bound_name(name), type_, value, *pos(name))

    def aug_assign(self, children):
        target, op, value = children
        line, col = pos(target)
        op = op.value[:-1]  # x op= y is x = x op y
        if isinstance(target, A.Name):
            return A.AugAssign(target.id, op, value, line, col)
        name, indices = index_target(target)
        return A.IndexAssign(name.id, indices, op, value, *pos(name))

    def return_stmt(self, children):
        tok, value = children
        if value is None:
            raise SyntaxProblem("return needs a value: every function returns one", *pos(tok))
        if isinstance(value, A.TupleLit) and len(value.elems) == 1:
            raise SyntaxProblem(ONE_TUPLE, *pos(value))
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
        return A.For(bound_name(var), range_arguments(iterable), body, *pos(tok),
                     range_at=pos(iterable.func))

    def while_stmt(self, children):
        tok, cond, body = children
        return A.While(cond, body, *pos(tok))

    # --- expressions
    def testlist(self, children):
        *items, comma = children
        items = present(items)
        if len(items) > 1:
            return A.TupleLit(items, *start_pos(items[0]))
        if comma is not None:  # x, is Python's 1-tuple: at the comma, for its error
            return A.TupleLit(items, *pos(comma))
        return items[0]

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
            node = A.BoolOp("and", node, pair, pair.line, pair.col, chained=True)
        return node

    def arith(self, children):
        return binary_chain(children, lambda a, op, b: A.BinOp(op.value, a, b, *pos(op)))

    term = arith

    def unary_op(self, children):
        tok, operand = children
        if tok.value == "-" and is_int_literal(operand, 2**63):  # -9223372036854775808
            return A.Num(-2**63, *pos(tok))
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
                raise SyntaxProblem("positional argument after a keyword argument",
                                    *start_pos(item))
            else:
                args.append(item)
        return args, kwargs

    def generator_args(self, children):
        return [self.generator([None, *children])], []

    def generator(self, children):  # (e for i in range(n)), or a call's only argument
        _paren, elem, (var, range_args, range_at) = children
        return A.Generator(elem, var, range_args, *start_pos(elem), range_at=range_at)

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
        value = int_value(tok)
        if value > 2**63:  # 2**63 itself is the magnitude of i64's least value
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
        bracket, elem, (var, range_args, range_at) = children
        return A.Comprehension(elem, var, range_args, *pos(bracket), range_at=range_at)

    def comp_for(self, children):
        _for, var, iterable, *_ = children
        return bound_name(var), range_arguments(iterable), pos(iterable.func)

    def comp_filter(self, children):
        raise SyntaxProblem("comprehension filters are not supported; use 'e if c else 0.0' "
                            "(or where(c, e, 0.0))", *pos(children[0]))

    def comp_second_for(self, children):
        raise SyntaxProblem("one 'for' per comprehension; nest them: "
                            "[[e for j in range(m)] for i in range(n)]", *pos(children[0]))


def check_keyword_apart(previous: Token, token: Token) -> None:
    """Where no name fits, the lexer reads the keyword at the start of one: 1.0ifb as
    1.0 if b. Python reads one name there, and fails."""
    if not keyword.iskeyword(previous.value) or \
            (token.line, token.column) != (previous.end_line, previous.end_column):
        return  # every token passes here: the cheap tests first
    glued = "".join(itertools.takewhile(lambda c: c.isalnum() or c == "_", token.value))
    if glued:
        raise SyntaxProblem(f"'{previous.value}{glued}' is read as one name, which "
                            f"cannot stand here; put a space after '{previous.value}' if it "
                            f"is meant as the keyword", *pos(previous))


def bound_name(name: Token | A.Name) -> str:
    """The text of a name that a def, a parameter, an assignment or a loop binds: as in
    Python, no keyword can be one (the lexer reads a keyword where only a name fits as one)."""
    text = name.value if isinstance(name, Token) else name.id
    if keyword.iskeyword(text):
        raise SyntaxProblem(f"'{text}' is a keyword; choose another name", *pos(name))
    return text


def check_type_name(tok: Token) -> None:
    if tok.value not in TYPE_NAMES:
        raise SyntaxProblem(f"unknown type '{tok.value}'; types are f64, i64, bool, arrays "
                            f"like f64[n] and tuples", *pos(tok))


def dim_value(tok: Token):
    if tok.type == "INT":
        value = int_value(tok)
        if value >= 2**63:
            raise SyntaxProblem(f"size {value} does not fit in i64 (at most {2**63 - 1})",
                                *pos(tok))
        return value
    if keyword.iskeyword(tok.value):  # True would be a dimension the body cannot name
        raise SyntaxProblem(f"'{tok.value}' is a keyword, not a size: a size is a dimension "
                            f"name or an integer literal", *pos(tok))
    return str(tok.value)


def int_value(tok: Token) -> int:
    """The integer an INT token writes; a leading zero is an error, as in Python (a C
    reader takes 010 for octal 8, and .dp would have read 10)."""
    if tok.value.startswith("0") and tok.value.strip("0"):
        raise SyntaxProblem(f"an integer does not start with 0 (in C, {tok.value} would be "
                            f"octal): write {int(tok.value)}", *pos(tok))
    return int(tok.value)


def assignment_to(target, value):
    """`x = value` or `a[i] = value`: the statement that assigns `value` to `target`."""
    if isinstance(target, A.Name):
        return A.Assign(bound_name(target), None, value, *pos(target))
    name, indices = index_target(target)
    return A.IndexAssign(name.id, indices, None, value, *pos(name))


def index_target(target):
    """`a[i][j]` as an assignment target -> (Name a, [i, j])."""
    if isinstance(target, A.TupleLit):  # a, (b, c) = ...
        raise SyntaxProblem("nested unpacking is not supported; unpack the inner tuple in a "
                            "statement of its own: a, t = ... then b, c = t", *pos(target))
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
    raise SyntaxProblem(ONLY_RANGE_LOOPS, *pos(iterable))


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
    with PARSE_LOCK:  # the error is read from the postlexer's state too
        try:
            no_lone_surrogate(text)
            functions = parser.parse(text)
        except SyntaxProblem as e:
            problem = e
        except UnexpectedInput as e:
            problem = syntax_problem(parser, indentation, e, text)
        else:
            return A.Module(functions, filename, source)
    line = max(1, min(problem.line or 1, len(source_lines(source)) or 1))
    raise SyntaxErrorDP(problem.message, line, max(1, problem.col or 1), filename=filename,
                        source=source)


def syntax_problem(parser, indentation, err, text) -> SyntaxProblem:
    if isinstance(err, UnexpectedCharacters):
        k = err.pos_in_stream
        col = err.column - 2 if text[k] in "\"'" and text[k - 2:k] == text[k] * 2 else err.column
        return SyntaxProblem(character_message(text, k), err.line, col)  # at a triple quote
    if isinstance(err, UnexpectedToken):
        return unexpected_token_problem(parser, err, indentation.tokens_before(err.token),
                                        indentation.brackets, text.split("\n"))
    return SyntaxProblem("unexpected end of file", err.line, err.column)
