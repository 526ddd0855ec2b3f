"""Section 3: cold start. The time to import and initialise each function's module in a
fresh interpreter, as Lambda does it (``/var/task`` = the function's CodeUri as the
working directory, the layer's ``python/`` on ``sys.path``, the template's environment),
as a ratio to a bare ``import boto3`` timed the same way in the same run.

Each sample is a new ``python`` process timing ``import app`` (or ``import boto3``)
around the import itself, in CPU time (``time.process_time``, the headline: a shared
machine's neighbours do not count in it) and wall time. Samples are taken in rounds,
every target once per round; a target's ratio is the median over rounds of its sample
divided by the ``import boto3`` sample of the same round.

Two bytecode situations:

- ``with bytecode``: every module has its ``.pyc`` (a warm-up run writes them under
  ``out/pycache`` via ``-X pycache_prefix``; the source tree is left alone).
- ``layer without bytecode``: the layer's packages have none, everything else has. This
  is what Lambda runs today: layers/common/Makefile deletes ``__pycache__`` from the
  layer, and ``/opt`` is read-only, so each cold start compiles the layer's modules.

``-X importtime`` (per-module medians of ``IMPORTTIME_RUNS`` runs) says what the time
goes to: self time by top-level package, beyond what ``import boto3`` loads, and for
each heavy package the chain of modules that imports it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from local import cfn

from . import LAYER, ROOT
from .workload import median

FUNCTIONS = {
    "on_usage": "OnUsageFunction",
    "periodic_scan": "PeriodicScanFunction",
    "send_notice": "SendNoticeFunction",
    "api": "ApiFunction",
}
BASELINE = "boto3"
# What send_notice does at init besides importing: its two boto3 clients (a reference,
# so the report can tell client creation from imports).
CLIENTS = "boto3+clients"
CLIENTS_CODE = "boto3; boto3.client('sesv2'); boto3.client('events')"
RUNS = 7
RUNS_WITHOUT_BYTECODE = 3
IMPORTTIME_RUNS = 3  # per-module medians, so one preempted import does not mislead
TARGET_RATIO = 1.3
TARGETED = ("on_usage", "periodic_scan", "send_notice")

# Packages CommonLayer ships (layers/common/requirements.txt), as import names.
LAYER_PACKAGES = (
    "aws_lambda_powertools", "typing_extensions", "pynamodb", "pydantic", "pydantic_core",
    "annotated_types", "typing_inspection", "jinja2", "markupsafe", "babel",
)
HEAVY = ("jinja2", "babel", "pydantic", "pydantic_core", "pynamodb", "aws_xray_sdk",
         "fastjsonschema", "boto3", "botocore", "aws_lambda_powertools", "jmespath",
         "urllib3", "markupsafe", "dateutil")

# Installed here for the SAM CLI and moto, absent from Lambda's Python runtime, and
# imported by botocore when present (awscrt by botocore.compat, pyOpenSSL by
# botocore.httpsession): hidden from every sample, the baseline's included.
NOT_ON_LAMBDA = ("awscrt", "OpenSSL")
TIMER = (
    "import sys; sys.modules.update(dict.fromkeys({hidden!r})); "
    "import time; _c, _w = time.process_time(), time.perf_counter(); import {module}; "
    "print(repr(time.process_time() - _c), repr(time.perf_counter() - _w))"
)


def _environment(function: str | None) -> dict[str, str]:
    """What Lambda gives the process: the template's variables, a region, credentials in
    the environment (so botocore never walks the credential chain), no AWS config."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("AWS_", "POWERTOOLS_", "PYTHON"))}
    env.update(cfn.function_env())
    env.update({
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    })
    if function == "send_notice":
        env.update({"SES_CONFIGURATION_SET": "", "EVENT_BUS_NAME": "default"})
    if function is not None:
        env["AWS_LAMBDA_FUNCTION_NAME"] = f"balance-alerts-{FUNCTIONS[function]}"
        env["PYTHONPATH"] = str(LAYER)
    return env


def _command(target: str, pycache: Path, *flags: str) -> tuple[list[str], Path]:
    module = {BASELINE: BASELINE, CLIENTS: CLIENTS_CODE}.get(target, "app")
    cwd = ROOT / "functions" / target if target in FUNCTIONS else ROOT
    return [sys.executable, "-X", f"pycache_prefix={pycache}", *flags, "-c",
            TIMER.format(module=module, hidden=NOT_ON_LAMBDA)], cwd


def _sample(target: str, pycache: Path, *, write_bytecode: bool) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one import in a new interpreter."""
    command, cwd = _command(target, pycache)
    env = _environment(target if target in FUNCTIONS else None)
    if not write_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{target}: import failed: {done.stderr.strip()[-2000:]}")
    cpu, wall = done.stdout.strip().splitlines()[-1].split()
    return float(cpu), float(wall)


def _strip_layer_bytecode(full: Path, into: Path) -> None:
    """A copy of the bytecode cache without the layer's modules."""
    shutil.copytree(full, into)
    sources = [Path(LAYER)]
    for name in LAYER_PACKAGES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        sources.append(origin.parent if origin.name == "__init__.py" else origin)
    sources += [ROOT / "functions" / name for name in FUNCTIONS]
    for source in sources:
        cached = into / str(source.resolve()).lstrip(os.sep)
        if source.suffix == ".py":
            for pyc in cached.parent.glob(f"{source.stem}.*.pyc"):
                pyc.unlink()
        elif cached.exists():
            shutil.rmtree(cached)


# ------------------------------------------------------------------------ importtime
def _parse_importtime(stderr: str) -> list[dict[str, Any]]:
    lines = []
    for raw in stderr.splitlines():
        if not raw.startswith("import time:") or "imported package" in raw:
            continue
        self_us, cumulative_us, name = raw[len("import time:"):].split("|", 2)
        padded = name[1:] if name.startswith(" ") else name
        depth = (len(padded) - len(padded.lstrip(" "))) // 2
        lines.append({"self_us": int(self_us), "cumulative_us": int(cumulative_us),
                      "name": padded.strip(), "depth": depth})
    # importtime prints a module when its import ends: a line's parent is the first
    # line after it that is one level shallower.
    for index, line in enumerate(lines):
        line["parent"] = None
        for later in range(index + 1, len(lines)):
            if lines[later]["depth"] < line["depth"]:
                line["parent"] = later
                break
    return lines


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def _importtime(target: str, pycache: Path) -> list[dict[str, Any]]:
    """The import tree of one run, each module's times the medians of several runs."""
    command, cwd = _command(target, pycache, "-X", "importtime")
    env = _environment(target if target in FUNCTIONS else None)
    runs = []
    for _ in range(IMPORTTIME_RUNS):
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{target}: importtime run failed: {done.stderr[-2000:]}")
        runs.append(_parse_importtime(done.stderr))
    times: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for lines in runs:
        for line in lines:
            times[line["name"]].append((line["self_us"], line["cumulative_us"]))
    for line in runs[0]:
        line["self_us"] = int(median([own for own, _ in times[line["name"]]]))
        line["cumulative_us"] = int(median([total for _, total in times[line["name"]]]))
    return runs[0]


def _analyse(function: str, pycache: Path, baseline_modules: set[str]) -> dict[str, Any]:
    lines = _importtime(function, pycache)
    root = next((line for line in reversed(lines) if line["name"] == "app"), None)
    total = root["cumulative_us"] if root else sum(line["self_us"] for line in lines)

    by_package: dict[str, int] = defaultdict(int)
    beyond_boto3: dict[str, int] = defaultdict(int)
    for line in lines:
        by_package[_top(line["name"])] += line["self_us"]
        if line["name"] not in baseline_modules:
            beyond_boto3[_top(line["name"])] += line["self_us"]
    shares = sorted(by_package.items(), key=lambda item: -item[1])
    extra = sorted(beyond_boto3.items(), key=lambda item: -item[1])

    heavy: dict[str, Any] = {}
    for package in HEAVY:
        entry = next((line for line in lines if _top(line["name"]) == package
                      and (line["parent"] is None
                           or _top(lines[line["parent"]]["name"]) != package)), None)
        if entry is None:
            continue
        chain, cursor = [], entry["parent"]
        while cursor is not None:
            chain.append(lines[cursor]["name"])
            cursor = lines[cursor]["parent"]
        project_chain = [name for name in chain
                         if name == "app" or name.startswith("balance_alerts")]
        heavy[package] = {
            "self_ms_total": by_package[package] / 1000,
            "in_import_boto3": package in {_top(name) for name in baseline_modules},
            "imported_by": chain[0] if chain else None,
            "via": " <- ".join([entry["name"], *project_chain]),
            "chain": " <- ".join([entry["name"], *chain]),
        }
    project = sorted(
        (line for line in lines if line["name"].startswith("balance_alerts")),
        key=lambda line: -line["self_us"])[:6]
    slowest = sorted((line for line in lines if line["name"] not in baseline_modules),
                     key=lambda line: -line["self_us"])[:8]
    return {
        "total_ms_under_importtime": total / 1000,
        "self_ms_by_package": [
            {"package": name, "ms": us / 1000, "share": us / total if total else 0.0}
            for name, us in shares[:10]
        ],
        "self_ms_beyond_import_boto3": [
            {"package": name, "ms": us / 1000} for name, us in extra[:8]
        ],
        "beyond_import_boto3_ms": sum(beyond_boto3.values()) / 1000,
        "slowest_modules_beyond_import_boto3": [
            {"module": line["name"], "self_ms": line["self_us"] / 1000} for line in slowest
        ],
        "heavy_packages": heavy,
        "slowest_project_modules_self_ms": [
            {"module": line["name"], "self_ms": line["self_us"] / 1000} for line in project
        ],
    }


# ---------------------------------------------------------------------------- run
def _rounds(targets: list[str], pycache: Path, runs: int) -> dict[str, list[tuple[float, float]]]:
    """``runs`` rounds; each takes one sample of every target, back to back."""
    samples: dict[str, list[tuple[float, float]]] = {target: [] for target in targets}
    for _ in range(runs):
        for target in targets:
            samples[target].append(_sample(target, pycache, write_bytecode=False))
    return samples


def _summary(samples: dict[str, list[tuple[float, float]]], target: str) -> dict[str, Any]:
    """Medians, and the median of the ratios to ``import boto3`` taken in the same round
    (a neighbour's load that comes and goes then weighs on both sides of each ratio)."""
    own, base = samples[target], samples[BASELINE]
    return {
        "cpu_ms": 1000 * median([cpu for cpu, _ in own]),
        "wall_ms": 1000 * median([wall for _, wall in own]),
        "ratio_cpu": median([a[0] / b[0] for a, b in zip(own, base, strict=True)]),
        "ratio_wall": median([a[1] / b[1] for a, b in zip(own, base, strict=True)]),
        "samples_cpu_ms": [round(1000 * cpu, 1) for cpu, _ in own],
        "samples_wall_ms": [round(1000 * wall, 1) for _, wall in own],
    }


def run() -> dict[str, Any]:
    targets = [BASELINE, CLIENTS, *FUNCTIONS]
    out = ROOT / "out"
    out.mkdir(exist_ok=True)
    full = out / "pycache"
    for target in targets:  # warm-up: write every module's bytecode under out/pycache
        _sample(target, full, write_bytecode=True)
    samples = _rounds(targets, full, RUNS)
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as scratch:
        stripped = Path(scratch) / "pycache"
        _strip_layer_bytecode(full, stripped)
        without = _rounds([BASELINE, *FUNCTIONS], stripped, RUNS_WITHOUT_BYTECODE)

    baseline_modules = {line["name"] for line in _importtime(BASELINE, full)}
    functions: dict[str, Any] = {}
    for name in FUNCTIONS:
        entry: dict[str, Any] = {**_summary(samples, name),
                                 "layer_without_bytecode": _summary(without, name)}
        if name in TARGETED:
            entry["target"] = f"<= {TARGET_RATIO}x import boto3 (CPU time, same rounds)"
            entry["target_met"] = entry["ratio_cpu"] <= TARGET_RATIO
        try:
            entry["importtime"] = _analyse(name, full, baseline_modules)
        except Exception as error:  # noqa: BLE001 - the analysis is a bonus
            entry["importtime_error"] = repr(error)
        functions[name] = entry
    base = _summary(samples, BASELINE)
    return {
        "method": "new interpreter per sample; time.process_time (CPU) and perf_counter "
                  "(wall) around the import; ratio = median over rounds of "
                  "sample / import-boto3 sample of the same round",
        "baseline": {
            "what": "import boto3 in a fresh interpreter",
            "cpu_ms": base["cpu_ms"],
            "wall_ms": base["wall_ms"],
            "samples_cpu_ms": base["samples_cpu_ms"],
            "samples_wall_ms": base["samples_wall_ms"],
            "without_bytecode_cpu_ms": _summary(without, BASELINE)["cpu_ms"],
        },
        "reference_boto3_with_send_notice_clients": {
            "what": f"import {CLIENTS_CODE}",
            **_summary(samples, CLIENTS),
        },
        "hidden_as_not_on_lambda": list(NOT_ON_LAMBDA),
        "runs": RUNS,
        "runs_layer_without_bytecode": RUNS_WITHOUT_BYTECODE,
        "functions": functions,
        "target_met": all(functions[name].get("target_met") for name in TARGETED),
    }
