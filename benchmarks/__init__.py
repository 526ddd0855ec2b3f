"""``make bench``: what sets the bill, measured side by side in one run (see
docs/performance.md). ``python -m benchmarks.run`` prints the table and writes
``out/bench.json``.

The handlers import ``balance_alerts`` from the layer, as Lambda does from /opt/python,
and read their table names from the environment at import: both are set here, once,
before anything imports them (the same defaults tests/conftest.py gives pytest).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "common"

if str(LAYER) not in sys.path:
    sys.path.insert(0, str(LAYER))

from local import cfn  # noqa: E402 - after the layer is importable

for _name, _value in cfn.function_env().items():
    os.environ.setdefault(_name, _value)
# Everything runs on moto: clients created at import (as on Lambda) get fake keys, so
# nothing here can reach a real account.
for _name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    os.environ[_name] = "testing"
os.environ.pop("AWS_PROFILE", None)
# moto's request stubber joins botocore's built-in handlers when moto is imported: import
# it before any client exists (the comparator's and send_notice's are made at import).
import moto.core.models  # noqa: E402,F401
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_REGION", os.environ["AWS_DEFAULT_REGION"])
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
# One INFO line per batch would flood the table; a warning still shows.
os.environ["POWERTOOLS_LOG_LEVEL"] = os.environ.get("BENCH_LOG_LEVEL", "WARNING")
