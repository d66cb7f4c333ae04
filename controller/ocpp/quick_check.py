"""A quick validity check compiled from each OCPP JSON schema, in front of jsonschema.

jsonschema spends about a third of the server's CPU on the Draft 4 schemas, mostly in its
generic machinery. The compiled check covers only the keywords the OCPP 1.6 and 2.0.1 schemas
use (2.0.1: local ``$ref``s to ``definitions``), with jsonschema's Draft 4 semantics (no format
checking, bool is not a number, enum of strings only); it may answer False for a valid payload
(then jsonschema decides) but never True for an invalid one. A schema with any other keyword
gets no quick check at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]
_UNSET: Any = object()
_compiled: dict[tuple[str, str], Check | None] = {}
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "id", "title", "description", "format", "javaType", "comment", "default"}
)
_DEFINITIONS = "#/definitions/"
_IS_TYPE: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
}


def quick_check(version: str, action: str, schema: Any) -> Check | None:
    """The compiled check for ``action``'s schema in ``version``, compiled once."""
    key = (version, action)
    check = _compiled.get(key, _UNSET)
    if check is _UNSET:
        check = _compiled[key] = compile_check(schema)
    return check


def compile_check(
    schema: Any, root: Any = None, resolving: frozenset[str] = frozenset()
) -> Check | None:
    """A predicate that is True only for instances ``schema`` accepts, or None if unsupported.

    ``$ref`` to the root's ``definitions`` (the OCPP 2.0.1 schemas) is followed; in Draft 4
    the keywords beside a ``$ref`` are ignored, and so they are here.
    """
    if not isinstance(schema, dict):
        return None
    root = schema if root is None else root
    if "$ref" in schema:
        ref = schema["$ref"]
        if not isinstance(ref, str) or not ref.startswith(_DEFINITIONS) or ref in resolving:
            return None
        target = (root.get("definitions") or {}).get(ref[len(_DEFINITIONS) :])
        return None if target is None else compile_check(target, root, resolving | {ref})
    known = _ANNOTATIONS | {
        "type",
        "properties",
        "additionalProperties",
        "required",
        "enum",
        "maxLength",
        "items",
        "minItems",
        "definitions",
        "additionalItems",  # ignored by Draft 4 when ``items`` is one schema
    }
    if not known.issuperset(schema):
        return None
    if "additionalItems" in schema and not isinstance(schema.get("items"), dict):
        return None
    checks: list[Check] = []
    if "type" in schema:
        type_names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not type_names or not all(isinstance(n, str) and n in _IS_TYPE for n in type_names):
            return None
        tests = [_IS_TYPE[n] for n in type_names]
        checks.append(tests[0] if len(tests) == 1 else lambda v: any(t(v) for t in tests))
    if "enum" in schema:
        choices = schema["enum"]
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            return None
        allowed = frozenset(choices)
        checks.append(lambda v: isinstance(v, str) and v in allowed)
    if "maxLength" in schema:
        longest = schema["maxLength"]
        if not isinstance(longest, int):
            return None
        checks.append(lambda v: not isinstance(v, str) or len(v) <= longest)
    if "required" in schema:
        needed = schema["required"]
        if not isinstance(needed, list):
            return None
        checks.append(lambda v: not isinstance(v, dict) or all(k in v for k in needed))
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        return None
    if properties:
        compiled = {name: compile_check(sub, root, resolving) for name, sub in properties.items()}
        if any(c is None for c in compiled.values()):
            return None
        pairs: list[tuple[str, Check]] = list(compiled.items())  # type: ignore[arg-type]

        def check_properties(v: Any) -> bool:
            return not isinstance(v, dict) or all(c(v[n]) for n, c in pairs if n in v)

        checks.append(check_properties)
    if "additionalProperties" in schema:
        extra = schema["additionalProperties"]
        if extra is False:
            declared = frozenset(properties)
            checks.append(lambda v: not isinstance(v, dict) or declared.issuperset(v))
        elif extra is not True:
            return None
    if "items" in schema:
        item_check = compile_check(schema["items"], root, resolving)
        if item_check is None:
            return None
        checks.append(lambda v: not isinstance(v, list) or all(item_check(i) for i in v))
    if "minItems" in schema:
        fewest = schema["minItems"]
        if not isinstance(fewest, int):
            return None
        checks.append(lambda v: not isinstance(v, list) or len(v) >= fewest)
    if len(checks) == 1:
        return checks[0]
    return lambda v: all(check(v) for check in checks)
