"""Section 3: cold start. The time to import and initialise each function's module in a
fresh interpreter, as Lambda does it (``/var/task`` = the function's CodeUri as the
working directory, the layer's ``python/`` on ``sys.path``, the template's environment),
as a ratio to a bare ``import boto3`` timed the same way in the same run.

Each sample is a new ``python`` process timing ``import app`` (or ``import boto3``)
around the import itself, in CPU time (``time.process_time``, the headline: a shared
machine's neighbours do not count in it) and wall time. Samples are taken in rounds,
every target once per round; a target's ratio is the median over rounds of its sample
divided by the ``import boto3`` sample of the same round.

Each process sees what a Lambda process sees, and nothing else: ``python -S`` (no
site-packages) with ``sys.path`` = the function's directory, the layer's source, the
layer's pinned dependencies (layers/common/requirements.txt; for the API also
ApiLayer's, layers/api/requirements.txt) and the packages the Lambda Python runtime
provides (boto3, botocore, s3transfer, jmespath, dateutil, urllib3, six) — each a
directory of links to the venv's installed copies under ``out/lambda-path/``. So nothing
the development environment adds (moto, the SAM CLI, awscrt, pytz, ...) is imported, as
it would not be on Lambda. The environment is the template's, with Lambda's ``TZ=:UTC``.
Every module has its ``.pyc`` (a warm-up run writes them under ``out/pycache`` via
``-X pycache_prefix``), as the layers ship bytecode (layers/*/Makefile).

``-X importtime`` (per-module medians of ``IMPORTTIME_RUNS`` runs) says what the time
goes to: self time by top-level package, beyond what ``import boto3`` loads, and for
each heavy package the chain of modules that imports it.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
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
#: Suffix of the "first invocation" targets: the function's import and init plus what its
#: first invocation sets up before any request goes out (its AWS clients - pynamodb, the
#: email channel and the event publisher make them on first use - and, for send_notice,
#: the first render), next to ``import boto3`` plus one boto3 client per service it
#: calls: what the same function written by hand cannot do without.
FIRST = "+first"


def _clients(*models: str) -> str:
    """Code that makes the DynamoDB clients of these tables, as their first requests
    would (transactions use the accounts table's)."""
    made = [f"_t.{model}._get_connection().connection.client" for model in models]
    return "; ".join(["from balance_alerts.adapters import tables as _t", *made])


FIRST_USE: dict[str, tuple[tuple[str, ...], str]] = {
    # function: (services, code run after "import app")
    "on_usage": (("dynamodb",), _clients("AccountItem", "ConfigItem")),
    "periodic_scan": (("dynamodb",),
                      _clients("AccountItem", "ConfigItem")),
    "send_notice": (("dynamodb", "sesv2", "events"),
                    _clients("NoticeItem", "AccountItem", "ConfigItem")
                    + "; from balance_alerts.adapters import events as _v, preview as _p, "
                    "template_store as _t; "
                    "from balance_alerts.adapters.channels import email as _e; "
                    "_e.client(); _v.client(); "
                    "_t.render('balance_low', 'customer', _p.sample_variables('balance_low'))"),
    "api": (("dynamodb",), _clients("AccountItem", "ConfigItem", "LedgerItem")),
}


def _boto3_with(services: tuple[str, ...]) -> str:
    return "+".join((BASELINE, *services))
RUNS = 7
IMPORTTIME_RUNS = 3  # per-module medians, so one preempted import does not mislead
TARGET_RATIO = 1.3
TARGETED = ("on_usage", "periodic_scan", "send_notice")

#: What the Lambda Python runtime provides besides the standard library.
RUNTIME_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil",
                         "urllib3", "six")
# one directory per test worker: parallel test processes must not rebuild each other's
LAMBDA_PATH = ROOT / "out" / ("lambda-path" + os.environ.get("PYTEST_XDIST_WORKER", ""))
#: ApiLayer (pydantic): only ApiFunction has it, next to CommonLayer (template.yaml).
API_LAYER = ROOT / "layers" / "api"
HEAVY = ("jinja2", "babel", "pydantic", "pydantic_core", "pynamodb", "aws_xray_sdk",
         "fastjsonschema", "boto3", "botocore", "aws_lambda_powertools", "jmespath",
         "urllib3", "markupsafe", "dateutil", "asyncio")
TIMER = (
    "import time; _c, _w = time.process_time(), time.perf_counter(); {code}; "
    "print(repr(time.process_time() - _c), repr(time.perf_counter() - _w))"
)


def layer_distributions(layer: Path = LAYER) -> list[str]:
    """The distributions a layer ships: its requirements.txt (CommonLayer's by default)."""
    names = []
    for line in (layer / "requirements.txt").read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            names.append(re.split(r"[=<>~!\[;\s]", requirement, maxsplit=1)[0])
    return names


def _mirror(distributions: list[str] | tuple[str, ...], into: Path) -> Path:
    """``into``: links to the installed top-level packages, modules and metadata of
    ``distributions`` (as ``pip install --target`` would lay them out)."""
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    for name in distributions:
        distribution = importlib.metadata.distribution(name)
        tops = {file.parts[0] for file in distribution.files or ()
                if file.parts and file.parts[0] not in ("..", "__pycache__")}
        for top in sorted(tops):
            source = Path(str(distribution.locate_file(top)))
            if source.exists() and not (into / top).exists():
                (into / top).symlink_to(source)
    return into


def lambda_path() -> dict[str, Path]:
    """The directories a function's and the baseline's ``sys.path`` are made of."""
    return {"runtime": _mirror(RUNTIME_DISTRIBUTIONS, LAMBDA_PATH / "runtime"),
            "layer": _mirror(layer_distributions(), LAMBDA_PATH / "layer"),
            "api-layer": _mirror(layer_distributions(API_LAYER), LAMBDA_PATH / "api-layer")}


def _environment(function: str | None, paths: dict[str, Path]) -> dict[str, str]:
    """What Lambda gives the process: the template's variables, a region, credentials in
    the environment (so botocore never walks the credential chain), no AWS config,
    ``TZ=:UTC``; ``PYTHONPATH`` = the layer (functions only; the API also has ApiLayer)
    and the runtime's packages."""
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
        "TZ": ":UTC",
    })
    path = [paths["runtime"]]
    if function == "send_notice":
        env.update({"SES_CONFIGURATION_SET": "", "EVENT_BUS_NAME": "default"})
    if function is not None:
        env["AWS_LAMBDA_FUNCTION_NAME"] = f"balance-alerts-{FUNCTIONS[function]}"
        env["LAMBDA_TASK_ROOT"] = str(ROOT / "functions" / function)
        path = [LAYER, paths["layer"], *path]
        if function == "api":
            path.insert(2, paths["api-layer"])
    env["PYTHONPATH"] = os.pathsep.join(str(entry) for entry in path)
    return env


def _function(target: str) -> str | None:
    """The function a target runs in ("on_usage", "on_usage+first"), None for boto3."""
    name = target.removesuffix(FIRST)
    return name if name in FUNCTIONS else None


def _code(target: str) -> str:
    function = _function(target)
    if function is None:  # "boto3" or "boto3+dynamodb+sesv2..."
        services = target.split("+")[1:]
        return "; ".join(["import boto3", *(f"boto3.client({name!r})" for name in services)])
    if target.endswith(FIRST):
        return "import app; " + FIRST_USE[function][1]
    return "import app"


def _command(target: str, pycache: Path, *flags: str) -> tuple[list[str], Path]:
    function = _function(target)
    cwd = ROOT / "functions" / function if function else ROOT
    return [sys.executable, "-S", "-X", f"pycache_prefix={pycache}", *flags, "-c",
            TIMER.format(code=_code(target))], cwd


def _sample(target: str, pycache: Path, paths: dict[str, Path]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one import in a new interpreter."""
    command, cwd = _command(target, pycache)
    env = _environment(_function(target), paths)
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{target}: import failed: {done.stderr.strip()[-2000:]}")
    cpu, wall = done.stdout.strip().splitlines()[-1].split()
    return float(cpu), float(wall)


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


def _importtime(target: str, pycache: Path, paths: dict[str, Path]) -> list[dict[str, Any]]:
    """The import tree of one run, each module's times the medians of several runs."""
    command, cwd = _command(target, pycache, "-X", "importtime")
    env = _environment(_function(target), paths)
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


def _analyse(function: str, pycache: Path, paths: dict[str, Path],
             baseline_modules: set[str]) -> dict[str, Any]:
    lines = _importtime(function, pycache, paths)
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
def _rounds(targets: list[str], pycache: Path, paths: dict[str, Path],
            runs: int) -> dict[str, list[tuple[float, float]]]:
    """``runs`` rounds; each takes one sample of every target, back to back."""
    samples: dict[str, list[tuple[float, float]]] = {target: [] for target in targets}
    for _ in range(runs):
        for target in targets:
            samples[target].append(_sample(target, pycache, paths))
    return samples


def _summary(samples: dict[str, list[tuple[float, float]]], target: str,
             baseline: str = BASELINE) -> dict[str, Any]:
    """Medians, and the median of the ratios to ``baseline`` taken in the same round
    (a neighbour's load that comes and goes then weighs on both sides of each ratio)."""
    own, base = samples[target], samples[baseline]
    return {
        "cpu_ms": 1000 * median([cpu for cpu, _ in own]),
        "wall_ms": 1000 * median([wall for _, wall in own]),
        "ratio_cpu": median([a[0] / b[0] for a, b in zip(own, base, strict=True)]),
        "ratio_wall": median([a[1] / b[1] for a, b in zip(own, base, strict=True)]),
        "samples_cpu_ms": [round(1000 * cpu, 1) for cpu, _ in own],
        "samples_wall_ms": [round(1000 * wall, 1) for _, wall in own],
    }


def run() -> dict[str, Any]:
    baselines = sorted({_boto3_with(services) for services, _ in FIRST_USE.values()})
    targets = [BASELINE, *FUNCTIONS, *baselines, *(name + FIRST for name in FUNCTIONS)]
    out = ROOT / "out"
    out.mkdir(exist_ok=True)
    full = out / "pycache"
    paths = lambda_path()
    for target in targets:  # warm-up: write every module's bytecode under out/pycache
        _sample(target, full, paths)
    samples = _rounds(targets, full, paths, RUNS)

    baseline_modules = {line["name"] for line in _importtime(BASELINE, full, paths)}
    functions: dict[str, Any] = {}
    for name in FUNCTIONS:
        services = FIRST_USE[name][0]
        entry: dict[str, Any] = {
            **_summary(samples, name),
            "first_invocation": {
                "what": f"import app, then {FIRST_USE[name][1]}",
                "baseline": _code(_boto3_with(services)),
                **_summary(samples, name + FIRST, _boto3_with(services)),
            },
        }
        if name in TARGETED:
            entry["target"] = f"<= {TARGET_RATIO}x import boto3 (CPU time, same rounds)"
            entry["target_met"] = entry["ratio_cpu"] <= TARGET_RATIO
        try:
            entry["importtime"] = _analyse(name, full, paths, baseline_modules)
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
        },
        "baselines_with_clients": {
            _code(name): _summary(samples, name) for name in baselines
        },
        "sys_path": "python -S; the function's directory, layers/common, the layer's "
                    "dependencies (the API: also ApiLayer's), the runtime's packages "
                    "(out/lambda-path/)",
        "runs": RUNS,
        "functions": functions,
        "target_met": all(functions[name].get("target_met") for name in TARGETED),
    }
