"""Write the API's OpenAPI document, generated from the code, to docs/openapi.json.

    make openapi                        # regenerate the committed file
    python -m tools.openapi --check     # exit 1 when the file is not current
    python -m tools.openapi --stdout    # print it

The document comes from ApiFunction's resolver (``functions/api/app.py``) through
``balance_alerts.api.openapi.document``; the output is deterministic (sorted keys).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "openapi.json"


def generate() -> str:
    """The document as it should be committed."""
    for path in (str(ROOT), str(ROOT / "layers" / "common")):
        if path not in sys.path:
            sys.path.insert(0, path)
    from local import cfn

    # The function reads its tables' names at import, as on Lambda: give it the template's.
    for name, value in cfn.function_env().items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

    from balance_alerts.api.openapi import document, dumps
    from functions.api.app import app

    return dumps(document(app))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the file is stale")
    parser.add_argument("--stdout", action="store_true", help="print instead of writing")
    args = parser.parse_args(argv)
    text = generate()
    if args.stdout:
        sys.stdout.write(text)
        return 0
    if args.check:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT.relative_to(ROOT)} is not current: run make openapi", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({_count(text)} operations)")
    return 0


def _count(text: str) -> int:
    import json

    paths: dict[str, Any] = json.loads(text).get("paths", {})
    return sum(len(operations) for operations in paths.values())


if __name__ == "__main__":
    raise SystemExit(main())
