"""Section 4: what ``sam build`` produces, zipped as ``sam deploy`` uploads it.

Runs ``sam build`` for arm64 / python3.12 into ``out/sam-build`` (CommonLayer's
Makefile downloads arm64 wheels from PyPI), then zips each artifact in memory
(deflate, as SAM does) and reports the sizes, the layer's largest packages, and
whether the layer carries boto3/botocore or their runtime dependencies (it must not:
the Lambda runtime provides them), and Babel's locale data: how many locales, its zipped
size and whether ``layers/common/trim_locale_data.py`` trimmed it. The target (<= 5 MB
zipped) is judged on CommonLayer, which every function has; ApiLayer (pydantic, only
ApiFunction has it) is reported next to it, with what ApiFunction loads in all (its code
and both layers), whether the two layers share a package (they must not) and whether
ApiLayer carries a runtime package. When ``sam build`` is unavailable or fails, the error
is reported and the section is skipped.
"""

from __future__ import annotations

import io
import os
import pickletools
import shutil
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any

from . import ROOT

BUILD_DIR = ROOT / "out" / "sam-build"
TIMEOUT_SECONDS = 240
LAYER_TARGET_BYTES = 5 * 1024 * 1024
FUNCTION_TARGET_BYTES = 16 * 1024  # "a few KB"
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil")


def _zipped_size(directory: Path) -> tuple[int, int, int]:
    """(zipped bytes, unzipped bytes, files) of a directory (or one file) zipped as SAM
    does."""
    buffer = io.BytesIO()
    unzipped = files = 0
    paths = sorted(directory.rglob("*")) if directory.is_dir() else [directory]
    base = directory if directory.is_dir() else directory.parent
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in paths:
            if path.is_file():
                archive.write(path, path.relative_to(base).as_posix())
                unzipped += path.stat().st_size
                files += 1
    return len(buffer.getvalue()), unzipped, files


def _layer_contents(layer: Path) -> tuple[list[dict[str, Any]], list[str], int]:
    """(top-level packages with their sizes, largest first; the runtime-provided ones
    among them; .pyc files) of a built layer's ``python/`` directory."""
    packages: list[dict[str, Any]] = []
    carried: list[str] = []
    if not layer.is_dir():
        return packages, carried, 0
    for entry in sorted(layer.iterdir()):
        if entry.name.endswith(".dist-info"):
            continue
        name = entry.name.removesuffix(".py")
        if name in RUNTIME_PROVIDED:
            carried.append(name)
        zipped, unzipped, _ = _zipped_size(entry)
        packages.append({"package": name, "zipped_bytes": zipped, "unzipped_bytes": unzipped})
    packages.sort(key=lambda item: -item["zipped_bytes"])
    return packages, carried, sum(1 for _ in layer.rglob("*.pyc"))


def _locale_data_trimmed(locale_data: Path) -> bool | None:
    """Whether the layer's ``en.dat`` lacks the display names the trim drops (read as
    pickle opcodes, without unpickling the artifact); None without an ``en.dat``."""
    english = locale_data / "en.dat"
    if not english.is_file():
        return None
    strings = {arg for _, arg, _ in pickletools.genops(english.read_bytes())
               if isinstance(arg, str)}
    return "languages" not in strings


def _sam() -> str | None:
    local = ROOT / ".venv" / "bin" / "sam"
    return str(local) if local.exists() else shutil.which("sam")


def run() -> dict[str, Any]:
    sam = _sam()
    if sam is None:
        return {"skipped": "the SAM CLI is not installed (.venv/bin/sam nor sam on PATH)"}
    if BUILD_DIR.exists():
        shutil.rmtree(BUILD_DIR)
    env = {**os.environ, "PYENV_VERSION": "3.12.1", "SAM_CLI_TELEMETRY": "0"}
    env.pop("PYTHONPATH", None)
    command = [sam, "build", "--template", "template.yaml", "--build-dir", str(BUILD_DIR)]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        return {"skipped": f"sam build did not finish in {TIMEOUT_SECONDS} s",
                "command": " ".join(command)}
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        return {"skipped": f"sam build failed with exit code {done.returncode}",
                "command": " ".join(command),
                "output_tail": (done.stdout + done.stderr).strip()[-3000:]}

    artifacts: dict[str, Any] = {}
    for directory in sorted(path for path in BUILD_DIR.iterdir() if path.is_dir()):
        zipped, unzipped, files = _zipped_size(directory)
        artifacts[directory.name] = {"zipped_bytes": zipped, "unzipped_bytes": unzipped,
                                     "files": files}

    layer = BUILD_DIR / "CommonLayer" / "python"
    packages, carried, bytecode_files = _layer_contents(layer)
    api_packages, api_carried, api_bytecode_files = _layer_contents(
        BUILD_DIR / "ApiLayer" / "python")
    # Lambda extracts both layers into /opt: a name in both would be one layer's copy
    # shadowing the other's.
    shared = sorted({item["package"] for item in packages}
                    & {item["package"] for item in api_packages})
    api_function_loads = {
        key: sum(artifacts.get(name, {}).get(key, 0)
                 for name in ("ApiFunction", "CommonLayer", "ApiLayer"))
        for key in ("zipped_bytes", "unzipped_bytes")}
    babel_data = layer / "babel" / "locale-data"
    babel_locales = sum(1 for _ in babel_data.glob("*.dat")) if babel_data.is_dir() else 0
    babel_data_zipped = _zipped_size(babel_data)[0] if babel_data.is_dir() else None

    layer_zipped = artifacts.get("CommonLayer", {}).get("zipped_bytes")
    functions = {name: info for name, info in artifacts.items() if name.endswith("Function")}
    return {
        "command": " ".join(command),
        "build_seconds": seconds,
        "artifacts": artifacts,
        "layer_largest_packages": packages[:8],
        "layer_babel_locales": babel_locales,
        "layer_babel_locale_data_zipped_bytes": babel_data_zipped,
        "layer_babel_locale_data_trimmed": _locale_data_trimmed(babel_data),
        "layer_pyc_files": bytecode_files,
        "layer_carries_runtime_packages": carried,
        "layer_without_boto3_botocore": not {"boto3", "botocore"} & set(carried),
        "api_layer_packages": api_packages,
        "api_layer_pyc_files": api_bytecode_files,
        "api_layer_carries_runtime_packages": api_carried,
        "packages_in_both_layers": shared,
        "api_function_loads": {"what": "ApiFunction + CommonLayer + ApiLayer",
                               **api_function_loads},
        "layer_target": "<= 5 MB zipped (CommonLayer, which every function has)",
        "layer_target_met": layer_zipped is not None and layer_zipped <= LAYER_TARGET_BYTES,
        "functions_target": "a few KB zipped each",
        "functions_target_met": bool(functions) and all(
            info["zipped_bytes"] <= FUNCTION_TARGET_BYTES for info in functions.values()),
    }
