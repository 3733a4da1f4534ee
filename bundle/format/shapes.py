"""Sizes written in ``network_data_format``: ``spatial_shape`` entries such as ``96``, ``"*"``,
``"16*n"`` or ``"2**p*n"``, computed by a tiny arithmetic evaluator (integers, ``+ - * // / % **``,
parentheses, the names ``p`` and ``n``); nothing is passed to ``eval``.

Example:
    >>> fake_spatial_shape([96, "16*n", "2**p", "*"], p=3, n=2, any=32)
    (96, 32, 8, 32)
"""

from __future__ import annotations

import ast
import operator
from typing import Any, Sequence

from bundle.errors import FormatError

__all__ = ["fake_spatial_shape", "size_of"]

_NAMES = ("p", "n")
_MAX_SIZE = 1 << 20  # no real dimension is larger; stops "2**p**99" from eating the machine
_OPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod, ast.Pow: operator.pow, ast.Div: operator.truediv,
}


def size_of(entry: Any, *, p: int = 1, n: int = 1, any: int = 1) -> int:
    """The size one ``spatial_shape`` entry stands for.

    Args:
        entry: an int, ``"*"`` (any size), or an arithmetic expression in ``p`` and ``n``.
        p, n: the values of the names ``p`` and ``n``.
        any: the size ``"*"`` stands for.

    Raises:
        FormatError: the entry is not an int or a string, uses another name or operation, is not a
            whole positive number, or is larger than 2**20.
    """
    if isinstance(entry, bool) or not isinstance(entry, (int, str)):
        raise FormatError(f"spatial_shape entry {entry!r} is {type(entry).__name__}; write an int or a string such as '16*n'")
    if isinstance(entry, int):
        return _checked(entry, entry)
    text = entry.strip()
    if text == "*":
        return _checked(any, entry)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise FormatError(f"spatial_shape entry '{entry}' is not an arithmetic expression",
                          hint="write e.g. 96, '*', '16*n' or '2**p*n'") from None
    value = _eval(tree.body, entry, {"p": p, "n": n})
    if isinstance(value, float):
        if not value.is_integer():
            raise FormatError(f"spatial_shape entry '{entry}' is {value} for p={p}, n={n}, not a whole number")
        value = int(value)
    return _checked(value, entry)


def _checked(value: int, entry: Any) -> int:
    if value < 1:
        raise FormatError(f"spatial_shape entry {entry!r} gives the size {value}; a size must be at least 1")
    if value > _MAX_SIZE:
        raise FormatError(f"spatial_shape entry {entry!r} gives the size {value}, larger than {_MAX_SIZE}")
    return value


def _eval(node: ast.AST, entry: str, names: dict[str, int]) -> int | float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise FormatError(f"spatial_shape entry '{entry}' uses the name '{node.id}'; only p and n are allowed",
                              hint="write sizes in terms of p (powers) and n (multiples), e.g. '2**p*n'")
        return names[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        value = _eval(node.operand, entry, names)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _eval(node.left, entry, names), _eval(node.right, entry, names)
        if isinstance(node.op, ast.Pow) and (abs(right) > 64 or abs(left) > _MAX_SIZE):
            raise FormatError(f"spatial_shape entry '{entry}' raises {left} to the power {right}: too large")
        try:
            value = _OPS[type(node.op)](left, right)
        except ZeroDivisionError:
            raise FormatError(f"spatial_shape entry '{entry}' divides by zero") from None
        if abs(value) > _MAX_SIZE ** 2:
            raise FormatError(f"spatial_shape entry '{entry}' is too large")
        return value
    raise FormatError(f"spatial_shape entry '{entry}' uses '{ast.unparse(node)}'; only integers, p, n, "
                      f"+ - * / // % ** and parentheses are allowed")


def fake_spatial_shape(shape: Sequence[Any], *, p: int = 1, n: int = 1, any: int = 1) -> tuple[int, ...]:
    """The sizes of a whole ``spatial_shape`` (see ``size_of``).

    Raises:
        FormatError: ``shape`` is not a list, or an entry is invalid (the message names it).
    """
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence):
        raise FormatError(f"spatial_shape is {shape!r}; write a list such as [96, 96, 96] or [] for none")
    return tuple(size_of(e, p=p, n=n, any=any) for e in shape)
