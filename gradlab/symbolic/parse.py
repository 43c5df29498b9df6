r"""A parser for gradient formulas typed as plain text or as a small LaTeX subset — one that cannot
execute code: a tokenizer and a recursive-descent parser that build SymPy expressions only from a
whitelist of symbols (the derivation's own, e.g. ``W_s[1,2]`` or ``W^{s}_{12}``), numbers, the four
operations, powers and the functions tanh, σ, exp, log. There is no ``eval``, no ``sympify`` and no
``parse_expr``: a name that is not in the vocabulary — ``__import__``, ``os``, ``lambda`` — is a
``ValueError`` naming its column, before anything is built.

Text grammar::

    expr  := term (('+' | '-') term)*
    term  := unary (('*' | '/' | implicit) unary)*
    unary := ('-' | '+') unary | power
    power := atom (('^' | '**') unary)?
    atom  := number | symbol | function '(' expr ')' | '(' expr ')'

LaTeX adds ``\frac{a}{b}``, ``{…}`` groups, ``\left( … \right)``, ``\cdot``, ``\times``, ``\tanh``,
``\sigma``, ``\exp``, ``\log`` and the spacing commands; symbols are spelled as gradlab prints them.

Both accept what a keyboard or a copy from the notes gives: Unicode superscripts and subscripts (``s₁²``
is ``s_1^2``, ``x⁻¹`` is ``x^(-1)``), ``·``, ``×``, ``−``, ``δ`` and ``σ``.
"""
from __future__ import annotations

import re

import sympy as sp

from .functions import sigma

__all__ = ["Vocabulary", "parse_text", "parse_latex", "parse", "MAX_LENGTH", "MAX_DEPTH"]

MAX_LENGTH = 200_000
MAX_DEPTH = 60     # nesting levels; each costs about seven Python frames
FUNCTIONS = {"tanh": sp.tanh, "sigma": sigma, "sigmoid": sigma, "exp": sp.exp, "log": sp.log, "ln": sp.log}
_LATEX_FUNCS = {r"\tanh": sp.tanh, r"\sigma": sigma, r"\exp": sp.exp, r"\log": sp.log, r"\ln": sp.log}
_LATEX_LETTERS = {r"\delta", r"\varepsilon", r"\gamma", r"\mathrm"}
_SPACING = {r"\,", r"\;", r"\!", r"\:", r"\quad", r"\qquad", r"\ "}
_UNICODE = str.maketrans({"·": "*", "×": "*", "−": "-", "δ": "delta", "σ": "sigma"})
_SUPERSCRIPTS = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+"))
_SUBSCRIPTS = dict(zip("₀₁₂₃₄₅₆₇₈₉", "0123456789"))
_SUPER_RUN = re.compile("[" + "".join(_SUPERSCRIPTS) + "]+")
_SUB_RUN = re.compile("[" + "".join(_SUBSCRIPTS) + "]+")


def _scripts(src: str, latex: bool) -> str:
    r"""Return ``src`` with runs of Unicode superscripts written as powers (``s_1²`` → ``s_1^(2)``, in LaTeX
    ``s_{1}^{2}``) and runs of subscripts as ``_`` indices (``s₁`` → ``s_1``)."""
    open_, close = ("{", "}") if latex else ("(", ")")
    src = _SUPER_RUN.sub(lambda m: "^" + open_ + "".join(_SUPERSCRIPTS[c] for c in m.group()) + close, src)
    return _SUB_RUN.sub(lambda m: ("_{" if latex else "_") + "".join(_SUBSCRIPTS[c] for c in m.group())
                        + ("}" if latex else ""), src)


def _norm_latex(name: str) -> str:
    return re.sub(r"[\s{}]", "", name)


class Vocabulary:
    """The symbols a formula may use, each under its text spelling and its LaTeX spelling."""

    def __init__(self, info: dict):
        self.text: dict = {}
        self.latex: dict = {}
        for sym, si in info.items():
            self.text[si.text.replace(" ", "")] = sym
            self.latex[_norm_latex(si.latex())] = sym
        self._prefixes = {k[:i] for k in self.latex for i in range(1, len(k) + 1)}

    def examples(self, n: int = 4) -> str:
        """Return a few known text spellings, for error messages."""
        return ", ".join(sorted(self.text)[:n])

    def is_latex_prefix(self, name: str) -> bool:
        """Whether some known LaTeX spelling starts with ``name`` (normalised)."""
        return _norm_latex(name) in self._prefixes


class _Tok:
    __slots__ = ("kind", "value", "pos")

    def __init__(self, kind, value, pos):
        self.kind, self.value, self.pos = kind, value, pos

    def __repr__(self):
        return f"{self.kind}:{self.value!r}@{self.pos}"


_NUM = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|\.\d+")
_TEXT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*(?:\[\s*\d+(?:\s*,\s*\d+)*\s*\])?")


def _error(src: str, pos: int, what: str) -> ValueError:
    snippet = src[max(0, pos - 10): pos + 10].replace("\n", " ")
    return ValueError(f"formula, column {pos + 1}: {what} (near {snippet!r})")


def _number(text: str):
    return sp.Rational(text) if len(text) <= 40 else None


# one-character tokens of each syntax: character -> token kind
_TEXT_SINGLE = {"(": "LP", ")": "RP"}
_LATEX_SINGLE = {"(": "LP", "[": "LP", ")": "RP", "]": "RP", "{": "LB", "}": "RB"}


def _single_or_number(src: str, i: int, toks: list, single: dict):
    """Append a one-character token or a number starting at ``i``; return the next position, or None."""
    kind = single.get(src[i])
    if kind is not None:
        toks.append(_Tok(kind, src[i], i))
        return i + 1
    m = _NUM.match(src, i)
    if m:
        val = _number(m.group())
        if val is None:
            raise _error(src, i, "number too long")
        toks.append(_Tok("NUM", val, i))
        return m.end()
    return None


def _tokens_text(src: str, vocab: Vocabulary) -> list:
    toks, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
            continue
        if src.startswith("**", i):
            toks.append(_Tok("OP", "^", i))
            i += 2
            continue
        if c in "+-*/^":
            toks.append(_Tok("OP", c, i))
            i += 1
            continue
        j = _single_or_number(src, i, toks, _TEXT_SINGLE)
        if j is not None:
            i = j
            continue
        m = _TEXT_NAME.match(src, i)
        if m:
            word = re.sub(r"\s", "", m.group())
            rest = src[m.end():].lstrip()
            if word in FUNCTIONS and rest.startswith("("):
                toks.append(_Tok("FUNC", FUNCTIONS[word], i))
            elif word in vocab.text:
                toks.append(_Tok("SYM", vocab.text[word], i))
            else:
                raise _error(src, i, f"unknown name {word!r}; this derivation's symbols look like "
                                     f"{vocab.examples()} and the functions are {sorted(FUNCTIONS)}")
            i = m.end()
            continue
        raise _error(src, i, f"character {c!r} is not allowed in a formula")
    toks.append(_Tok("END", None, n))
    return toks


def _read_group(src: str, i: int) -> tuple:
    """Return (content, end) of the brace group starting at ``src[i] == '{'``."""
    depth, j = 0, i
    while j < len(src):
        if src[j] == "{":
            depth += 1
        elif src[j] == "}":
            depth -= 1
            if depth == 0:
                return src[i + 1: j], j + 1
        j += 1
    raise _error(src, i, "unbalanced '{'")


def _command(src: str, i: int) -> tuple:
    m = re.compile(r"\\(?:[A-Za-z]+|.)").match(src, i)
    if not m:
        raise _error(src, i, "a lone backslash")
    return m.group(), m.end()


def _latex_symbol(src: str, i: int, vocab: Vocabulary) -> tuple:
    """Scan a symbol starting at ``i``: a letter (or \\delta, \\mathrm{..}) with _ and ^ attachments."""
    if src[i] == "\\":
        cmd, j = _command(src, i)
        if cmd == r"\mathrm":
            if j >= len(src) or src[j] != "{":
                raise _error(src, i, r"\mathrm needs a {name}")
            body, j = _read_group(src, j)
            name = cmd + "{" + body + "}"
        else:
            name = cmd
    else:
        name, j = src[i], i + 1
    while j < len(src):
        c = src[j]
        if c not in "_^":
            break
        k = j + 1
        while k < len(src) and src[k] == " ":
            k += 1
        if k >= len(src):
            break
        if src[k] == "{":
            body, end = _read_group(src, k)
            part = c + "{" + body + "}"
        elif src[k].isalnum():
            part, end = c + src[k], k + 1
        else:
            break
        if c == "^" and not vocab.is_latex_prefix(name + part):
            break          # a power, not part of the name
        name, j = name + part, end
    key = _norm_latex(name)
    if key not in vocab.latex:
        raise _error(src, i, f"unknown symbol {name!r}; this derivation's symbols are spelled like "
                             f"{', '.join(sorted(vocab.latex)[:4])}")
    return vocab.latex[key], j


def _tokens_latex(src: str, vocab: Vocabulary) -> list:
    toks, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
            continue
        if c in "+-*/^":
            toks.append(_Tok("OP", c, i))
            i += 1
            if c == "^" and i < n and src[i].isdigit():      # x^2 3 is x² · 3: one digit only
                toks.append(_Tok("NUM", sp.Integer(int(src[i])), i))
                i += 1
            continue
        j = _single_or_number(src, i, toks, _LATEX_SINGLE)
        if j is not None:
            i = j
            continue
        if c == "\\":
            cmd, j = _command(src, i)
            if cmd in _SPACING:
                i = j
                continue
            if cmd in (r"\left", r"\right"):
                k = j
                while k < n and src[k] == " ":
                    k += 1
                if k < n and src[k] in "([":
                    toks.append(_Tok("LP", src[k], k))
                elif k < n and src[k] in ")]":
                    toks.append(_Tok("RP", src[k], k))
                elif k < n and src[k] == ".":
                    pass
                else:
                    raise _error(src, i, f"{cmd} must be followed by ( ) [ ] or .")
                i = k + 1
                continue
            if cmd in (r"\cdot", r"\times"):
                toks.append(_Tok("OP", "*", i))
                i = j
                continue
            if cmd == r"\frac":
                toks.append(_Tok("FRAC", cmd, i))
                i = j
                continue
            if cmd in _LATEX_FUNCS:
                k = j
                while k < n and src[k] == " ":
                    k += 1
                if k < n and src[k] == "^":     # a power of the function: \sigma^{2}{\left(x\right)}
                    k += 1
                    if k < n and src[k] == "{":
                        depth = 0
                        while k < n:
                            depth += {"{": 1, "}": -1}.get(src[k], 0)
                            k += 1
                            if depth == 0:
                                break
                    elif k < n:
                        k += 1
                    while k < n and src[k] == " ":
                        k += 1
                applied = k < n and (src[k] in "({" or src.startswith(r"\left", k))
                if applied or cmd != r"\sigma":
                    toks.append(_Tok("FUNC", _LATEX_FUNCS[cmd], i))
                    i = j
                    continue
            if cmd in _LATEX_LETTERS or cmd == r"\sigma":
                sym, i = _latex_symbol(src, i, vocab)
                toks.append(_Tok("SYM", sym, i))
                continue
            raise _error(src, i, f"unsupported LaTeX command {cmd!r}")
        if c.isalpha():
            sym, j = _latex_symbol(src, i, vocab)
            toks.append(_Tok("SYM", sym, i))
            i = j
            continue
        raise _error(src, i, f"character {c!r} is not allowed in a formula")
    toks.append(_Tok("END", None, n))
    return toks


class _Parser:
    def __init__(self, src, toks):
        self.src, self.toks, self.i, self.depth = src, toks, 0, 0

    def peek(self):
        return self.toks[self.i]

    def take(self, kind=None, value=None):
        t = self.toks[self.i]
        if kind is not None and (t.kind != kind or (value is not None and t.value != value)):
            want = value or kind
            got = "the end" if t.kind == "END" else repr(self.src[t.pos: t.pos + 8])
            raise _error(self.src, t.pos, f"expected {want}, found {got}")
        self.i += 1
        return t

    def deeper(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _error(self.src, self.peek().pos, f"formula nested deeper than {MAX_DEPTH} levels")

    def parse(self):
        e = self.expr()
        t = self.peek()
        if t.kind != "END":
            raise _error(self.src, t.pos, f"unexpected {self.src[t.pos:t.pos + 8]!r}")
        return e

    def expr(self):
        self.deeper()
        terms = [self.term()]
        while self.peek().kind == "OP" and self.peek().value in "+-":
            op = self.take().value
            t = self.term()
            terms.append(t if op == "+" else -t)
        self.depth -= 1
        return sp.Add(*terms)

    def _starts_factor(self, t):
        return t.kind in ("NUM", "SYM", "FUNC", "LP", "LB", "FRAC")

    def term(self):
        e = self.unary()
        while True:
            t = self.peek()
            if t.kind == "OP" and t.value in "*/":
                self.take()
                rhs = self.unary()
                e = e * rhs if t.value == "*" else e / rhs
            elif self._starts_factor(t):
                e = e * self.unary()
            else:
                return e

    def unary(self):
        t = self.peek()
        if t.kind == "OP" and t.value in "+-":
            self.take()
            self.deeper()
            v = self.unary()
            self.depth -= 1
            return -v if t.value == "-" else v
        return self.power()

    def power(self):
        base = self.atom()
        t = self.peek()
        if t.kind == "OP" and t.value == "^":
            self.take()
            self.deeper()
            ex = self.unary()
            self.depth -= 1
            if ex.is_Number and (abs(ex) > 64 or (base.is_Number and abs(base) > 1e6)):
                raise _error(self.src, t.pos, f"exponent {ex} is too large for a gradient formula")
            return base ** ex
        return base

    def group(self, open_kind, close_kind):
        self.take(open_kind)
        e = self.expr()
        self.take(close_kind)
        return e

    def atom(self):
        t = self.peek()
        if t.kind == "NUM" or t.kind == "SYM":
            self.take()
            return t.value
        if t.kind == "LP":
            return self.group("LP", "RP")
        if t.kind == "LB":
            return self.group("LB", "RB")
        if t.kind == "FRAC":
            self.take()
            num = self.group("LB", "RB")
            den = self.group("LB", "RB")
            return num / den
        if t.kind == "FUNC":
            self.take()
            self.deeper()
            ex = None
            if self.peek().kind == "OP" and self.peek().value == "^":   # \tanh^{2}{(x)} = tanh(x)²
                self.take()
                ex = self.atom()
                if not ex.is_Number or abs(ex) > 64:
                    raise _error(self.src, t.pos, "a function power must be a small number")
            arg = self.atom()
            self.depth -= 1
            return t.value(arg) if ex is None else t.value(arg) ** ex
        got = "the end of the formula" if t.kind == "END" else repr(self.src[t.pos:t.pos + 8])
        raise _error(self.src, t.pos, f"expected a number, a symbol, a function or '(', found {got}")


def _check_source(src) -> str:
    if not isinstance(src, str):
        raise TypeError(f"formula: expected a string, got {type(src).__name__}")
    if len(src) > MAX_LENGTH:
        raise ValueError(f"formula: {len(src)} characters is longer than the limit {MAX_LENGTH}")
    return src


def _run(src, toks):
    try:
        return _Parser(src, toks).parse()
    except RecursionError:
        raise ValueError(f"formula: nested too deeply (more than {MAX_DEPTH} levels)") from None


def _finite(expr, src: str):
    """Return ``expr``, or raise when it is undefined (a division by zero such as ``x/(s_1 - s_1)``)."""
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise ValueError(f"formula {src!r} divides by zero (it simplifies to {sp.sstr(expr)})")
    return expr


def parse_text(src: str, vocab: Vocabulary):
    """Return the SymPy expression of a plain-text formula (``W_s[1,2]*(1 - s_2[1]^2)``) over ``vocab``."""
    src = _scripts(_check_source(src), latex=False).translate(_UNICODE)
    return _finite(_run(src, _tokens_text(src, vocab)), src)


def parse_latex(src: str, vocab: Vocabulary):
    r"""Return the SymPy expression of a LaTeX formula (``\frac{1}{2} W^{s}_{12} \left(1 - s_{2,1}^{2}\right)``)."""
    src = _scripts(_check_source(src).strip().strip("$").strip(), latex=True)
    return _finite(_run(src, _tokens_latex(src, vocab)), src)


def parse(src: str, vocab: Vocabulary, syntax: str = "auto"):
    """Return the expression of ``src``; ``syntax`` is ``"text"``, ``"latex"`` or ``"auto"`` (LaTeX when
    the formula contains a backslash, a brace or a ``$``)."""
    if syntax == "auto":
        syntax = "latex" if isinstance(src, str) and any(c in src for c in "\\{}$") else "text"
    if syntax == "text":
        return parse_text(src, vocab)
    if syntax == "latex":
        return parse_latex(src, vocab)
    raise ValueError(f"parse: syntax must be 'text', 'latex' or 'auto', got {syntax!r}")
