"""Read lsyncd's Lua config as data, never running it.

A config file is Lua code, but the common ones are only calls with a table literal:
`settings { ... }`, `sync { default.rsyncssh, source = "...", ... }` (and lsyncd 2.0's
`settings = { ... }`). This reads exactly that: strings, numbers, booleans, nested tables
and the names `default.rsync`, `default.rsyncssh` and `default.direct`. Anything else
(variables, functions, loops, `..`) is code and is refused with its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Union

from inosync.commands.migrate.model import Note, Refused, Unreadable

DEFAULTS = ("default.rsync", "default.rsyncssh", "default.direct")


@dataclass(frozen=True)
class Ref:
    """A name used as a value; only lsyncd's default layers are accepted."""

    name: str


@dataclass
class Table:
    """A Lua table literal: named fields and positional items, each with its line."""

    line: int
    fields: dict[str, tuple[int, Value]] = field(default_factory=dict)
    items: list[tuple[int, Value]] = field(default_factory=list)


Value = Union[str, int, float, bool, None, Table, Ref]


@dataclass(frozen=True)
class Token:
    kind: str  # "name", "string", "number", "op", "end"
    text: str
    line: int
    value: object = None


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
            "\\": "\\", '"': '"', "'": "'", "\n": "\n"}
_LONG = re.compile(r"\[(=*)\[")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPS = ("...", "..", "==", "~=", "<=", ">=", "::", "//", "<<", ">>")


def _long_bracket(text: str, at: int, line: int) -> tuple[str, int]:
    """The body of [[...]] / [==[...]==] starting at `at`, and where it ends."""
    match = _LONG.match(text, at)
    assert match is not None
    close = "]" + match.group(1) + "]"
    end = text.find(close, match.end())
    if end < 0:
        raise Unreadable([Note(line, "", "a long string or comment is never closed")])
    body = text[match.end():end]
    return (body[1:] if body.startswith("\n") else body), end + len(close)


def _quoted(text: str, at: int, line: int) -> tuple[str, int]:
    quote, out, i = text[at], [], at + 1
    while i < len(text) and text[i] != quote:
        char = text[i]
        if char == "\n":
            break
        if char != "\\":
            out.append(char)
            i += 1
            continue
        nxt = text[i + 1:i + 2]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt.isdigit():
            digits = re.match(r"\d{1,3}", text[i + 1:])
            assert digits is not None
            out.append(chr(int(digits.group())))
            i += 1 + len(digits.group())
        elif nxt == "x" and re.match(r"[0-9a-fA-F]{2}", text[i + 2:i + 4]):
            out.append(chr(int(text[i + 2:i + 4], 16)))
            i += 4
        elif nxt == "z":
            i += 2
            while i < len(text) and text[i].isspace():
                i += 1
        else:
            raise Unreadable([Note(line, "", f"unknown escape \\{nxt} in a string")])
    if i >= len(text) or text[i] != quote:
        raise Unreadable([Note(line, "", "a string is never closed")])
    return "".join(out), i + 1


def tokenize(text: str) -> list[Token]:
    """Lua tokens with their lines; comments and whitespace dropped."""
    tokens, at, line = [], 0, 1
    while at < len(text):
        char = text[at]
        if char == "\n":
            line += 1
            at += 1
        elif char.isspace():
            at += 1
        elif text.startswith("--", at):
            if _LONG.match(text, at + 2):
                start = at
                _, at = _long_bracket(text, at + 2, line)
                line += text[start:at].count("\n")
            else:
                end = text.find("\n", at)
                at = len(text) if end < 0 else end
        elif char in "\"'" or _LONG.match(text, at):
            start = at
            value, at = _quoted(text, at, line) if char in "\"'" else \
                _long_bracket(text, at, line)
            tokens.append(Token("string", text[start:at], line, value))
            line += text[start:at].count("\n")
        elif (match := _NAME.match(text, at)) is not None:
            tokens.append(Token("name", match.group(), line))
            at = match.end()
        elif (match := _NUMBER.match(text, at)) is not None and match.group():
            number = match.group()
            amount = int(number, 16) if number[:2] in ("0x", "0X") else \
                float(number) if any(c in number for c in ".eE") else int(number)
            tokens.append(Token("number", number, line, amount))
            at = match.end()
        else:
            op = next((o for o in _OPS if text.startswith(o, at)), char)
            tokens.append(Token("op", op, line))
            at += len(op)
    tokens.append(Token("end", "", line))
    return tokens


_STATEMENTS = {"local": "a local variable", "function": "a function", "for": "a loop",
               "while": "a loop", "repeat": "a loop", "if": "an if", "return": "a return",
               "require": "loading another file", "dofile": "loading another file"}
_WHY = ("is code - migrate reads only settings{...} and sync{...} tables and never runs the "
        "file; write the values out or write the TOML by hand")


class _CodeFound(Exception):
    def __init__(self, token: Token, what: str) -> None:
        super().__init__(what)
        self.note = Note(token.line, "", f"{what} {_WHY}")


@dataclass
class Block:
    """One top-level `sync{...}` or `settings{...}`."""

    kind: str
    line: int
    table: Table


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.at + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.peek()
        self.at = min(self.at + 1, len(self.tokens) - 1)
        return token

    def is_op(self, text: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.kind == "op" and token.text == text

    def expect(self, text: str) -> Token:
        if not self.is_op(text):
            token = self.peek()
            raise _CodeFound(token, f"{self._describe(token)} where {text!r} belongs")
        return self.take()

    def _describe(self, token: Token) -> str:
        if token.kind == "end":
            return "the end of the file"
        if token.text == "..":
            return "string concatenation (..)"
        if token.kind == "op" and token.text in "({":
            return "a function call"
        if token.text in _STATEMENTS:
            return _STATEMENTS[token.text]
        return f"{token.text!r}"

    def statement(self) -> Block:
        token = self.take()
        if token.kind == "name" and token.text in ("sync", "settings"):
            if self.is_op("("):
                self.take()
                table = self.table()
                self.expect(")")
            elif self.is_op("=") and token.text == "settings":  # lsyncd 2.0
                self.take()
                table = self.table()
            else:
                table = self.table()
            return Block(token.text, token.line, table)
        if token.kind == "name" and token.text in _STATEMENTS:
            raise _CodeFound(token, _STATEMENTS[token.text])
        if token.kind != "name":
            raise _CodeFound(token, self._describe(token))
        name = token.text
        while self.is_op(".") and self.peek(1).kind == "name":
            self.take()
            name += "." + self.take().text
        if self.is_op("=") or self.is_op(","):
            raise _CodeFound(token, f"a variable ({name})")
        raise _CodeFound(token, f"a call to {name}")

    def table(self) -> Table:
        table = Table(self.expect("{").line)
        while not self.is_op("}"):
            token = self.peek()
            if token.kind == "name" and self.is_op("=", 1):
                self.at += 2
                table.fields[token.text] = (token.line, self.value())
            elif self.is_op("["):
                self.take()
                key = self.take()
                if key.kind != "string":
                    raise _CodeFound(key, "a computed key")
                self.expect("]")
                self.expect("=")
                table.fields[str(key.value)] = (key.line, self.value())
            else:
                table.items.append((token.line, self.value()))
            if self.is_op(",") or self.is_op(";"):
                self.take()
            elif not self.is_op("}"):
                raise _CodeFound(self.peek(), self._describe(self.peek()))
        self.take()
        return table

    def value(self) -> Value:
        token = self.peek()
        if token.kind in ("string", "number"):
            self.take()
            return token.value  # type: ignore[return-value]
        if self.is_op("-") and self.peek(1).kind == "number":
            self.take()
            return -self.take().value  # type: ignore[operator,no-any-return]
        if self.is_op("{"):
            return self.table()
        if token.kind != "name":
            raise _CodeFound(token, self._describe(token))
        if token.text in ("true", "false", "nil"):
            self.take()
            return {"true": True, "false": False, "nil": None}[token.text]
        if token.text == "function":
            raise _CodeFound(token, "a function")
        name = self.take().text
        while self.is_op(".") and self.peek(1).kind == "name":
            self.take()
            name += "." + self.take().text
        if self.is_op("(") or self.is_op("{") or self.peek().kind == "string":
            raise _CodeFound(token, f"a call to {name}")
        if name not in DEFAULTS:
            raise _CodeFound(token, f"a variable ({name})")
        return Ref(name)


def read_blocks(text: str) -> list[Block]:
    """Every sync{} and settings{} in the file; code anywhere raises Refused listing it."""
    parser = _Parser(tokenize(text))
    blocks, problems = [], []
    while parser.peek().kind != "end":
        if parser.is_op(";"):
            parser.take()
            continue
        start = parser.at
        try:
            blocks.append(parser.statement())
        except _CodeFound as found:
            problems.append(found.note)
            _skip_statement(parser, start)
    if problems:
        raise Refused(problems)
    return blocks


_OPENING, _CLOSING = ("{", "(", "[", "function", "do", "if", "repeat"), ("}", ")", "]", "end",
                                                                        "until")
_NOT_A_START = ("end", "else", "elseif", "until", "then", "do")


def _skip_statement(parser: _Parser, start: int) -> None:
    """Move past the statement that failed (brackets and blocks), to the next top one."""
    def depth_change(token: Token) -> int:
        return (token.kind != "string" and token.text in _OPENING) - \
            (token.kind != "string" and token.text in _CLOSING)

    depth = sum(depth_change(token) for token in parser.tokens[start:parser.at])
    while parser.peek().kind != "end":
        token = parser.take()
        depth += depth_change(token)
        following = parser.peek()
        if (depth <= 0 and following.line != token.line and following.kind == "name"
                and following.text not in _NOT_A_START):
            return
