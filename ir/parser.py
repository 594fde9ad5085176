"""Reads the IR text format written by ir.printer back into a Module.

The parser takes result types as printed and does not type-check: run the verifier for
that. Errors are `IRParseError` with the line and column in the text; the module keeps the
line and column of each op and function (`Module.positions`), so the verifier's errors give
them too.
"""

from __future__ import annotations

import json
import re

from .core import Block, Function, Loc, Module, Op, Symbol, Value
from .errors import IRParseError
from .types import DYN, SCALARS, ArrayType, Type

TOKEN = re.compile(r"""
    (?P<ws>[ \t\r]+|\n|//[^\n]*)
  | (?P<value>%[A-Za-z0-9_.]+)
  | (?P<symbol>@[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<number>-?(?:inf\b|nan\b|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?))
  | (?P<arrow>->)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[(){}\[\],:=^?])
""", re.VERBOSE)


class Token:
    __slots__ = ("kind", "text", "line", "col")

    def __init__(self, kind, text, line, col):
        self.kind, self.text, self.line, self.col = kind, text, line, col


def tokenize(text: str) -> list[Token]:
    tokens, pos, line, line_start = [], 0, 1, 0
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if m is None:
            raise IRParseError(f"unexpected character {text[pos]!r}", line, pos - line_start + 1)
        kind = m.lastgroup
        if kind == "ws":
            if m.group() == "\n":
                line, line_start = line + 1, m.end()
        else:
            tokens.append(Token(kind, m.group(), line, pos - line_start + 1))
        pos = m.end()
    tokens.append(Token("eof", "", line, pos - line_start + 1))
    return tokens


def found(tok: Token) -> str:
    """A token as an error quotes it: its text, or 'end of input'."""
    return tok.text or "end of input"


class Parser:
    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.pos = 0
        self.values: dict[str, Value] = {}
        self.positions: dict = {}  # Module.positions

    # --- token helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def peek(self, k: int = 1) -> Token:
        return self.tokens[min(self.pos + k, len(self.tokens) - 1)]

    def error(self, message: str, tok: Token | None = None) -> IRParseError:
        tok = tok or self.tok
        return IRParseError(message, tok.line, tok.col)

    def at(self, text: str) -> bool:
        return self.tok.text == text and self.tok.kind != "string"

    def expect(self, text: str) -> Token:
        if not self.at(text):
            raise self.error(f"expected '{text}', found '{found(self.tok)}'")
        return self.advance()

    def expect_kind(self, kind: str, what: str) -> Token:
        if self.tok.kind != kind:
            raise self.error(f"expected {what}, found '{found(self.tok)}'")
        return self.advance()

    def advance(self) -> Token:
        tok = self.tok
        self.pos += 1
        return tok

    def comma_list(self, item, close: str) -> list:
        items = []
        if self.at(close):
            return items
        items.append(item())
        while self.at(","):
            self.advance()
            items.append(item())
        return items

    # --- types and attributes
    def type(self) -> Type:
        tok = self.expect_kind("ident", "a type")
        if tok.text not in SCALARS:
            raise self.error(f"unknown type '{tok.text}'", tok)
        elem = SCALARS[tok.text]
        if not self.at("["):
            return elem
        self.advance()
        dims = self.comma_list(self.dim, "]")
        self.expect("]")
        if not dims:
            raise self.error("an array type needs at least one dimension")
        return ArrayType(elem, tuple(dims))

    def dim(self):
        tok = self.advance()
        if tok.text == "?":
            return DYN
        if tok.kind == "number" and tok.text.isdigit():
            return int(tok.text)
        if tok.kind == "ident" or tok.text in ("inf", "nan"):  # f64[inf]: a size named inf
            return tok.text
        raise self.error(f"expected a dimension, found '{found(tok)}'", tok)

    def attr_value(self):
        tok = self.tok
        if tok.kind == "number":
            self.advance()
            text = tok.text
            if re.fullmatch(r"-?\d+", text):
                return int(text)
            return float(text)
        if tok.kind == "string":
            self.advance()
            return self.string(tok)
        if tok.kind == "symbol":
            self.advance()
            return Symbol(tok.text[1:])
        if self.at("["):
            self.advance()
            items = self.comma_list(self.attr_value, "]")
            self.expect("]")
            return items
        if tok.kind == "ident":
            if tok.text in ("true", "false", "none"):
                self.advance()
                return {"true": True, "false": False, "none": None}[tok.text]
            return self.type()
        raise self.error(f"expected an attribute value, found '{found(tok)}'")

    def string(self, tok: Token) -> str:
        try:
            return json.loads(tok.text)
        except json.JSONDecodeError:
            raise self.error(f"bad escape in string {tok.text}: strings take JSON's escapes "
                             f"(\\\" \\\\ \\n \\t \\uXXXX)", tok) from None

    def loc(self) -> Loc:
        """`loc("file.dp":3:10)`: where in the source an op came from."""
        self.expect("loc")
        self.expect("(")
        quoted = self.expect_kind("string", 'a file name in quotes, as in loc("f.dp":3:10)')
        filename = self.string(quoted)
        self.expect(":")
        line = self.position_number("a line number")
        self.expect(":")
        col = self.position_number("a column number")
        self.expect(")")
        return Loc(filename, line, col)

    def position_number(self, what: str) -> int:
        tok = self.expect_kind("number", what)
        if not tok.text.isdigit():
            raise self.error(f"expected {what}, found '{found(tok)}'", tok)
        return int(tok.text)

    def attr_dict(self) -> dict:
        self.expect("{")
        attrs = {}

        def entry():
            key = self.expect_kind("ident", "an attribute name")
            self.expect("=")
            if key.text in attrs:
                raise self.error(f"attribute '{key.text}' given twice", key)
            attrs[key.text] = self.attr_value()

        self.comma_list(entry, "}")
        self.expect("}")
        return attrs

    def starts_attr_dict(self) -> bool:
        return self.at("{") and self.peek().kind == "ident" and self.peek(2).text == "="

    # --- values
    def use(self) -> Value:
        tok = self.expect_kind("value", "a value like %x")
        try:
            return self.values[tok.text[1:]]
        except KeyError:
            raise self.error(f"use of undefined value {tok.text}", tok) from None

    def name_hint(self, name: str) -> str | None:
        """The name hint a printed name came from: none for a number, and without the
        suffix the printer made it unique with (%y.1 is a value named y), which error
        messages name it by."""
        if name.isdigit():
            return None
        stem, dot, suffix = name.rpartition(".")
        return stem if dot and stem and suffix.isdigit() else name

    def typed_args(self) -> tuple[list[Type], list[str], list[Token]]:
        self.expect("(")
        names, types, toks = [], [], []

        def arg():
            tok = self.expect_kind("value", "an argument like %x")
            self.expect(":")
            names.append(tok.text[1:])
            toks.append(tok)
            types.append(self.type())

        self.comma_list(arg, ")")
        self.expect(")")
        return types, names, toks

    def new_block(self, types, names, toks) -> Block:
        for name, tok in zip(names, toks):
            if name in self.values or names.count(name) > 1:
                raise self.error(f"value %{name} is defined twice", tok)
        block = Block(types, [self.name_hint(n) for n in names])
        for name, value in zip(names, block.args):
            self.values[name] = value
        return block

    # --- structure
    def module(self) -> Module:
        module = Module(positions=self.positions)
        while self.tok.kind != "eof":
            start = self.tok
            fn = self.function()
            if fn.name in module.functions:
                raise self.error(f"function @{fn.name} is defined twice", start)
            module.add(fn)
            self.positions[fn.name] = (start.line, start.col)
        return module

    def function(self) -> Function:
        self.expect("func")
        name = self.expect_kind("symbol", "a function name like @f").text[1:]
        self.values = {}
        body = self.new_block(*self.typed_args())
        self.expect("->")
        if self.at("("):
            self.advance()
            rets = self.comma_list(self.type, ")")
            self.expect(")")
        else:
            rets = [self.type()]
        attrs = {}
        if self.at("attributes"):
            self.advance()
            attrs = self.attr_dict()
        self.expect("{")
        self.ops_until_close(body)
        return Function(name, body, rets, attrs)

    def ops_until_close(self, block: Block) -> None:
        while not self.at("}"):
            if self.tok.kind == "eof":
                raise self.error("expected '}' before end of input")
            block.ops.append(self.op())
        self.advance()

    def region(self) -> Block:
        if self.at("^"):
            self.advance()
            block = self.new_block(*self.typed_args())
            self.expect(":")
        else:
            block = Block()
        self.ops_until_close(block)
        return block

    def op(self) -> Op:
        start = self.tok
        result_toks = []
        if self.tok.kind == "value":
            result_toks.append(self.advance())
            while self.at(","):
                self.advance()
                result_toks.append(self.expect_kind("value", "a result like %x"))
            self.expect("=")
        name_tok = self.expect_kind("ident", "an op name")
        operands = []
        inline_value = name_tok.text == "const" and not self.at("{")
        if inline_value:  # `const 1.0`, the printer's short form of `const {value = 1.0}`
            value = self.attr_value()
        elif self.tok.kind == "value":
            operands = [self.use()]
            while self.at(","):
                self.advance()
                operands.append(self.use())
        attrs_tok = self.tok
        attrs = self.attr_dict() if self.starts_attr_dict() else {}
        if inline_value and "value" in attrs:
            raise self.error("attribute 'value' given twice: after const and in braces",
                             attrs_tok)
        if inline_value:
            attrs["value"] = value
        types = []
        if result_toks:
            self.expect(":")
            types = [self.type()]
            while self.at(","):
                self.advance()
                types.append(self.type())
            if len(types) != len(result_toks):
                raise self.error(f"{len(result_toks)} results but {len(types)} types", name_tok)
        loc = self.loc() if self.at("loc") and self.peek().text == "(" else None
        regions = []
        if self.at("{"):
            self.advance()
            regions.append(self.region())
            while self.at("{"):
                self.advance()
                regions.append(self.region())
        names = [t.text[1:] for t in result_toks]
        for name, tok in zip(names, result_toks):
            if name in self.values or names.count(name) > 1:
                raise self.error(f"value %{name} is defined twice", tok)
        op = Op(name_tok.text, operands, types, attrs, regions, loc,
                result_names=[self.name_hint(n) for n in names])
        for name, value in zip(names, op.results):
            self.values[name] = value
        self.positions[op] = (start.line, start.col)
        return op


def parse_module(text: str) -> Module:
    parser = Parser(text)
    try:
        return parser.module()
    except RecursionError:  # one level of Python's stack per nested region, and more
        raise parser.error("regions are nested too deeply to read") from None


def parse_function(text: str) -> Function:
    module = parse_module(text)
    if len(module.functions) != 1:
        raise IRParseError(f"expected one function, found {len(module.functions)}", 1, 1)
    return next(iter(module.functions.values()))
