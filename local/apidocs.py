"""A browsable page for an OpenAPI 3.1 document: one self-contained HTML file (inline CSS,
no script, nothing fetched from a CDN), so it works offline. ``make serve`` serves it at
``/docs``; ``python -m local.apidocs > out/api.html`` writes it for the committed
document."""

from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path
from typing import Any

METHOD_ORDER = ("get", "put", "post", "patch", "delete")
CSS = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1d232a}
header{background:#1d3557;color:#fff;padding:1.2em 2em}header h1{margin:0;font-size:1.6em}
main{display:flex;align-items:flex-start}nav{position:sticky;top:0;max-height:100vh;
overflow:auto;min-width:19em;padding:1em;border-right:1px solid #dde;font-size:.85em}
nav a{display:block;color:#1d3557;text-decoration:none;padding:.1em 0}
article{padding:1em 2em;max-width:60em}section.op{border:1px solid #dde;border-radius:6px;
margin:1.2em 0;padding:.2em 1em 1em}h2{border-bottom:2px solid #1d3557;padding-bottom:.2em}
.m{display:inline-block;min-width:4.2em;text-align:center;border-radius:4px;color:#fff;
font:bold .8em monospace;padding:.15em .4em;margin-right:.4em}
.get{background:#2a9d8f}.put{background:#e9a23b}.post{background:#457b9d}
.delete{background:#e63946}.patch{background:#8d6cab}code,pre{font-family:ui-monospace,
monospace;font-size:.9em}pre{background:#f4f6f8;padding:.7em;overflow:auto;border-radius:4px}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #dde;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#f4f6f8}.req{color:#e63946}
.code{font-family:monospace;font-weight:bold}.muted{color:#667}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _markdown(text: str) -> str:
    """The little markdown the descriptions use: paragraphs, **bold** and `code`."""
    out = []
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        escaped = _e(" ".join(paragraph.split()))
        escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
        escaped = re.sub(r"`(.+?)`", r"<code>\1</code>", escaped)
        out.append(f"<p>{escaped}</p>")
    return "\n".join(out)


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _type(schema: dict[str, Any]) -> str:
    """A one-line description of a schema's type, with links to named schemas."""
    if "$ref" in schema:
        name = _ref_name(schema["$ref"])
        return f'<a href="#schema-{_e(name)}">{_e(name)}</a>'
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(_type(part) for part in schema[key])
    kind = schema.get("type", "any")
    if kind == "array":
        text = f"array of {_type(schema.get('items', {}))}"
    elif kind == "object" and "additionalProperties" in schema \
            and isinstance(schema["additionalProperties"], dict):
        text = f"object of {_type(schema['additionalProperties'])}"
    else:
        text = _e(kind)
    facets = []
    if "enum" in schema:
        facets.append("one of " + ", ".join(f"<code>{_e(v)}</code>" for v in schema["enum"]))
    if "const" in schema:
        facets.append(f"<code>{_e(schema['const'])}</code>")
    if "pattern" in schema:
        facets.append(f"pattern <code>{_e(schema['pattern'])}</code>")
    for key, label in (("minLength", "min length"), ("maxLength", "max length"),
                       ("minimum", "&ge;"), ("maximum", "&le;"), ("minItems", "min items"),
                       ("maxItems", "max items"), ("format", "format")):
        if key in schema:
            facets.append(f"{label} {_e(schema[key])}")
    return text + (f" <span class='muted'>({'; '.join(facets)})</span>" if facets else "")


def _properties(schema: dict[str, Any]) -> str:
    properties = schema.get("properties") or {}
    if not properties:
        return f"<p>{_type(schema)}</p>"
    required = set(schema.get("required") or [])
    rows = []
    for name, prop in properties.items():
        default = (f"<br><span class='muted'>default <code>{_e(json.dumps(prop['default']))}"
                   "</code></span>") if "default" in prop else ""
        description = _e(prop.get("description", ""))
        mark = " <span class='req'>*</span>" if name in required else ""
        rows.append(f"<tr><td><code>{_e(name)}</code>{mark}</td><td>{_type(prop)}{default}"
                    f"</td><td>{description}</td></tr>")
    extra = "" if schema.get("additionalProperties") is not False else \
        "<p class='muted'>No other fields are accepted.</p>"
    return ("<table><tr><th>field</th><th>type</th><th>description</th></tr>"
            + "".join(rows) + "</table>" + extra)


def _media_schema(content: dict[str, Any] | None) -> dict[str, Any] | None:
    if not content:
        return None
    media = content.get("application/json") or next(iter(content.values()))
    return media.get("schema")


def _operation(path: str, method: str, op: dict[str, Any], schemas: dict[str, Any]) -> str:
    anchor = f"op-{method}-{re.sub(r'[^A-Za-z0-9]+', '-', path).strip('-')}"
    parts = [f'<section class="op" id="{anchor}"><h3><span class="m {method}">'
             f'{method.upper()}</span><code>{_e(path)}</code></h3>']
    if op.get("description"):
        parts.append(_markdown(op["description"]))
    parameters = op.get("parameters") or []
    if parameters:
        rows = []
        for p in parameters:
            examples = ", ".join(f"<code>{_e(ex.get('value'))}</code>"
                                 for ex in (p.get("examples") or {}).values())
            mark = " <span class='req'>*</span>" if p.get("required") else ""
            rows.append(f"<tr><td><code>{_e(p['name'])}</code>{mark}</td><td>{_e(p['in'])}"
                        f"</td><td>{_type(p.get('schema', {}))}</td><td>"
                        f"{_e(p.get('description', ''))}"
                        f"{' e.g. ' + examples if examples else ''}</td></tr>")
        parts.append("<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th>"
                     "<th>description</th></tr>" + "".join(rows) + "</table>")
    body = op.get("requestBody")
    if body:
        schema = _media_schema(body.get("content")) or {}
        parts.append(f"<h4>Request body (application/json)</h4><p>{_type(schema)}</p>")
        target = schemas.get(_ref_name(schema["$ref"]), {}) if "$ref" in schema else schema
        for example in (target.get("examples") or [])[:2]:
            parts.append(f"<pre>{_e(json.dumps(example, indent=2))}</pre>")
    rows = []
    for code, response in sorted(op.get("responses", {}).items()):
        schema = _media_schema(response.get("content"))
        rows.append(f"<tr><td class='code'>{_e(code)}</td><td>"
                    f"{_e(response.get('description', ''))}</td><td>"
                    f"{_type(schema) if schema else ''}</td></tr>")
    parts.append("<h4>Responses</h4><table><tr><th>status</th><th>meaning</th><th>body</th>"
                 "</tr>" + "".join(rows) + "</table></section>")
    return "\n".join(parts)


def render(doc: dict[str, Any]) -> str:
    """The page for ``doc``."""
    info = doc.get("info", {})
    schemas = doc.get("components", {}).get("schemas", {})
    operations = [
        (path, method, op)
        for path, item in sorted(doc.get("paths", {}).items())
        for method, op in sorted(item.items(), key=lambda kv: METHOD_ORDER.index(kv[0])
                                 if kv[0] in METHOD_ORDER else 99)
    ]
    nav = ["<strong>Operations</strong>"]
    body = ["<h2>Operations</h2>"]
    for path, method, op in operations:
        anchor = f"op-{method}-{re.sub(r'[^A-Za-z0-9]+', '-', path).strip('-')}"
        nav.append(f'<a href="#{anchor}"><span class="m {method}">{method.upper()}</span>'
                   f"{_e(path)}</a>")
        body.append(_operation(path, method, op, schemas))
    nav.append("<br><strong>Schemas</strong>")
    body.append("<h2>Schemas</h2>")
    for name, schema in sorted(schemas.items()):
        nav.append(f'<a href="#schema-{_e(name)}">{_e(name)}</a>')
        body.append(f'<section id="schema-{_e(name)}"><h3>{_e(name)}</h3>'
                    f"{_markdown(schema.get('description', ''))}{_properties(schema)}</section>")
    servers = "".join(f"<li><code>{_e(s['url'])}</code> {_e(s.get('description', ''))}</li>"
                      for s in doc.get("servers", []))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(info.get('title', 'API'))}</title><style>{CSS}</style></head>
<body><header><h1>{_e(info.get('title', 'API'))} <small>{_e(info.get('version', ''))}</small>
</h1></header><main><nav>{''.join(nav)}</nav><article>
{_markdown(info.get('description', ''))}
<h4>Servers</h4><ul>{servers}</ul>
<p>The OpenAPI document: <a href="openapi.json"><code>openapi.json</code></a>.</p>
{''.join(body)}
</article></main></body></html>
"""


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else \
        Path(__file__).resolve().parent.parent / "docs" / "openapi.json"
    sys.stdout.write(render(json.loads(path.read_text())))


if __name__ == "__main__":
    main()
