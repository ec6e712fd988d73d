"""Regenerate ``assistants_v2.json`` (the part of OpenAI's published OpenAPI document our API serves) from a
checkout of github.com/openai/openai-openapi:

    git -C openai-openapi show <commit>:openapi.yaml > /tmp/openapi.yaml
    .venv/bin/python -m tests.e2e.openai_spec.extract /tmp/openapi.yaml <commit>

It keeps, verbatim: every operation under ``/assistants`` and ``/threads`` (method, path, response schema per
status), and every component schema those responses, ``AssistantStreamEvent`` and ``ErrorResponse`` reach.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
SURFACE_PREFIXES = ("/assistants", "/threads")
EXTRA_ROOTS = ("AssistantStreamEvent", "ErrorResponse")
METHODS = ("get", "post", "delete")


def _schema_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _collect(node: Any, schemas: dict[str, Any], found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and _schema_name(ref) not in found:
            found.add(_schema_name(ref))
            _collect(schemas[_schema_name(ref)], schemas, found)
        for value in node.values():
            _collect(value, schemas, found)
    elif isinstance(node, list):
        for value in node:
            _collect(value, schemas, found)


def extract(spec: dict[str, Any], commit: str) -> dict[str, Any]:
    schemas = spec["components"]["schemas"]
    operations: dict[str, dict[str, str]] = {}
    found: set[str] = set(EXTRA_ROOTS)
    for root in EXTRA_ROOTS:
        _collect(schemas[root], schemas, found)
    for path, item in spec["paths"].items():
        if not path.startswith(SURFACE_PREFIXES):
            continue
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            for status, response in operation["responses"].items():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if schema is None:
                    continue
                operations.setdefault(f"{method.upper()} {path}", {})[status] = _schema_name(schema["$ref"])
                _collect(schema, schemas, found)
    return {
        "source": {
            "repository": "https://github.com/openai/openai-openapi",
            "commit": commit,
            "file": "openapi.yaml",
            "openapi": spec["openapi"],
            "license": "MIT (LICENSE in this folder)",
        },
        "operations": operations,
        "schemas": {name: schemas[name] for name in sorted(found)},
    }


def main() -> None:
    source, commit = sys.argv[1], sys.argv[2]
    spec = yaml.load(Path(source).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    target = HERE / "assistants_v2.json"
    target.write_text(json.dumps(extract(spec, commit), indent=1, sort_keys=True) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
