"""Does a contract still serve the readers of its previous published version?

A change is compatible when every message valid under the previous schema keeps its
meaning under the new one and the previous readers understand what is now sent: adding an
optional field is; removing a field, changing its type (including making it nullable or
no longer nullable) or adding a required one is not. Such a change needs a new version
(a new ``version`` on the event model, a new route) instead.

Both JSON Schema documents of events (``$defs``) and OpenAPI documents
(``components/schemas``, ``paths``) are compared.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def breaking_changes(previous: Schema, current: Schema) -> list[str]:
    """What in ``current`` breaks the readers of ``previous``; empty when compatible."""
    if "paths" in previous:
        return _compare_openapi(previous, current)
    return _Comparison(previous, current).schemas(previous, current, "payload")


def _compare_openapi(previous: Schema, current: Schema) -> list[str]:
    comparison = _Comparison(previous, current)
    problems: list[str] = []
    for path, operations in previous.get("paths", {}).items():
        for method, old in operations.items():
            where = f"{method.upper()} {path}"
            new = current.get("paths", {}).get(path, {}).get(method)
            if new is None:
                problems.append(f"{where}: removed")
                continue
            old_body, new_body = (
                _body_schema(old.get("requestBody")),
                _body_schema(new.get("requestBody")),
            )
            if old_body is not None and new_body is not None:
                problems += comparison.schemas(old_body, new_body, f"{where} request")
            elif old_body is None and new_body is not None:
                problems.append(f"{where}: now requires a request body")
            for status, answer in old.get("responses", {}).items():
                new_answer = new.get("responses", {}).get(status)
                if new_answer is None:
                    problems.append(f"{where}: no longer answers {status}")
                    continue
                old_schema, new_schema = _body_schema(answer), _body_schema(new_answer)
                if old_schema is not None and new_schema is not None:
                    problems += comparison.schemas(old_schema, new_schema, f"{where} {status}")
    return problems


def _body_schema(part: Schema | None) -> Schema | None:
    if not part:
        return None
    for media in part.get("content", {}).values():
        schema: Schema | None = media.get("schema")
        return schema
    return None


class _Comparison:
    """Walks two schemas side by side, resolving each document's own references."""

    def __init__(self, previous: Schema, current: Schema) -> None:
        self._previous = previous
        self._current = current
        self._seen: set[tuple[str, str]] = set()

    def schemas(self, old: Schema, new: Schema, where: str) -> list[str]:
        """The breaking differences between ``old`` and ``new`` at ``where``."""
        key = (old.get("$ref", ""), new.get("$ref", ""))
        if key != ("", ""):
            if key in self._seen:
                return []
            self._seen.add(key)
        old, new = _resolve(self._previous, old), _resolve(self._current, new)
        old_kinds, new_kinds = _kinds(self._previous, old), _kinds(self._current, new)
        if old_kinds != new_kinds:
            return [f"{where}: retyped from {_show(old_kinds)} to {_show(new_kinds)}"]
        problems: list[str] = []
        old_object = _branch(self._previous, old, "object")
        new_object = _branch(self._current, new, "object")
        if old_object is not None and new_object is not None:
            problems += self._objects(old_object, new_object, where)
        old_array = _branch(self._previous, old, "array")
        new_array = _branch(self._current, new, "array")
        if old_array is not None and new_array is not None:
            problems += self.schemas(
                old_array.get("items", {}), new_array.get("items", {}), f"{where}[]"
            )
        return problems

    def _objects(self, old: Schema, new: Schema, where: str) -> list[str]:
        problems: list[str] = []
        old_fields, new_fields = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", ())), set(new.get("required", ()))
        for name, schema in old_fields.items():
            if name not in new_fields:
                problems.append(f"{where}.{name}: removed")
                continue
            if name in new_required and name not in old_required:
                problems.append(f"{where}.{name}: now required")
            problems += self.schemas(schema, new_fields[name], f"{where}.{name}")
        for name in new_fields.keys() - old_fields.keys():
            if name in new_required:
                problems.append(f"{where}.{name}: added as required")
        old_extra, new_extra = old.get("additionalProperties"), new.get("additionalProperties")
        if isinstance(old_extra, dict) and isinstance(new_extra, dict):
            problems += self.schemas(old_extra, new_extra, f"{where}{{*}}")
        return problems


def _kinds(document: Schema, schema: Schema) -> frozenset[str]:
    """The JSON types a schema admits (``string:uuid`` for formats)."""
    schema = _resolve(document, schema)
    if "anyOf" in schema or "oneOf" in schema:
        kinds: set[str] = set()
        for branch in _alternatives(schema):
            kinds |= _kinds(document, branch)
        return frozenset(kinds)
    if "const" in schema:
        return frozenset({f"const:{schema['const']!r}"})
    if "enum" in schema:
        return frozenset(f"const:{value!r}" for value in schema["enum"])
    declared = schema.get("type")
    if declared is None:
        return frozenset({"object"} if "properties" in schema else {"any"})
    types = declared if isinstance(declared, list) else [declared]
    form = schema.get("format")
    return frozenset(f"{t}:{form}" if form and t == "string" else t for t in types)


def _branch(document: Schema, schema: Schema, kind: str) -> Schema | None:
    """The part of ``schema`` describing values of JSON type ``kind``, if any."""
    for branch in _alternatives(schema) or [schema]:
        resolved = _resolve(document, branch)
        if kind in _kinds(document, resolved):
            return resolved
    return None


def _alternatives(schema: Schema) -> list[Schema]:
    branches: list[Schema] = schema.get("anyOf") or schema.get("oneOf") or []
    return branches


def _resolve(document: Schema, schema: Schema) -> Schema:
    """``schema`` itself, or what its ``$ref`` points at within ``document``."""
    ref = schema.get("$ref")
    if ref is None:
        return schema
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    resolved: Schema = node
    return resolved


def _show(kinds: frozenset[str]) -> str:
    return " | ".join(sorted(kinds)) or "nothing"
