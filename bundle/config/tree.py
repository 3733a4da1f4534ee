"""Reading and writing plain config data (dicts and lists) by id, and copying it."""

from __future__ import annotations

from typing import Any, Iterator

from bundle.config import syntax

#: What ``child`` and ``lookup`` return for an id that is not in the tree (``None`` is a value).
MISSING = object()


def child(node: Any, key: str) -> Any:
    """The child of a dict or list at ``key`` (a string; list indices are digits), or MISSING."""
    if isinstance(node, dict):
        return node.get(key, MISSING)
    if isinstance(node, list):
        try:
            i = int(key)
        except ValueError:
            return MISSING
        if -len(node) <= i < len(node):
            return node[i]
    return MISSING


def lookup(root: Any, id: str) -> Any:
    """The node at ``id`` or ``MISSING``."""
    if type(root) is dict and ":" not in id and "#" not in id:  # the common case: a top-level id
        return root.get(id, MISSING) if id != "" else root
    node = root
    for part in syntax.split_id(id):
        node = child(node, part)
        if node is MISSING:
            return MISSING
    return node


def deepest_existing(root: Any, id: str) -> tuple[str, Any]:
    """The longest prefix of ``id`` that exists, and its node."""
    node, parts, done = root, syntax.split_id(id), []
    for part in parts:
        nxt = child(node, part)
        if nxt is MISSING:
            break
        node = nxt
        done.append(part)
    return syntax.SEP.join(done), node


def keys_of(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [str(k) for k in node]
    if isinstance(node, list):
        return [str(i) for i in range(len(node))]
    return []


def items_of(node: Any) -> Iterator[tuple[Any, str, Any]]:
    """(key as stored, key as id part, value) for each child of a dict or list."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield k, str(k), v
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield i, str(i), v


def assign(root: Any, id: str, value: Any, *, create: bool = False) -> Any:
    """Set ``id`` to ``value`` in place and return the (possibly new) root.

    The parent must exist unless ``create`` is true, in which case missing dicts are made.
    Raises KeyError (with the missing prefix) when it does not.
    """
    parts = syntax.split_id(id)
    if not parts:
        return value
    node = root
    for n, part in enumerate(parts[:-1]):
        nxt = child(node, part)
        if nxt is MISSING or not isinstance(nxt, (dict, list)):
            if not create or not isinstance(node, dict):
                raise KeyError(syntax.SEP.join(parts[: n + 1]))
            nxt = node[part] = {}
        node = nxt
    last = parts[-1]
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list):
        try:
            node[int(last)] = value
        except (ValueError, IndexError):
            raise KeyError(id) from None
    else:
        raise KeyError(syntax.SEP.join(parts[:-1]))
    return root


def copy_tree(value: Any) -> Any:
    """A structural copy: new dicts and lists all the way down, leaves shared (they are immutable
    for plain config data; anything else is kept by identity, as a reference would be)."""
    if isinstance(value, dict):
        return {k: copy_tree(v) if isinstance(v, (dict, list)) else v for k, v in value.items()}
    if isinstance(value, list):
        return [copy_tree(v) if isinstance(v, (dict, list)) else v for v in value]
    return value


def walk_ids(root: Any, id: str = "") -> Iterator[tuple[str, Any]]:
    """Every (id, node) of the tree, parents before children, in document order."""
    stack = [(id, root)]
    while stack:
        cur, node = stack.pop()
        yield cur, node
        if isinstance(node, (dict, list)):
            kids = [(syntax.join_id(cur, k), v) for _, k, v in items_of(node)]
            stack.extend(reversed(kids))
