"""``make bench``: every figure that sets the bill, side by side, in one run.

Prints a table and writes ``out/bench.json``. Each section runs on its own: one that
fails records its error in the JSON and in the table, and the others still run. The
whole run stays within ``BUDGET_SECONDS``; the scan section, the only one whose cost
grows with the data, runs last and measures the largest size the time left allows.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import platform
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import ROOT
from .workload import load_average

OUT = ROOT / "out"
BUDGET_SECONDS = 540.0


# --------------------------------------------------------------------------- machine
def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 0
    return {
        "nproc": cores,
        "cpu_model": model,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "load_average_at_start": load_average(),
    }


# --------------------------------------------------------------------------- sections
def _section(name: str, module: str, log: Any,
             call: Callable[[Any], dict[str, Any]] = lambda section: section.run()
             ) -> dict[str, Any]:
    """Import ``benchmarks.<module>`` and run it; any failure becomes the entry."""
    print(f"bench: {name} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        # Powertools' EMF lines and warnings go to out/bench.log, not over the table.
        with contextlib.redirect_stdout(log), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = call(importlib.import_module(f"{__package__}.{module}"))
        entry = {"ok": True, "result": result}
    except Exception as error:  # noqa: BLE001 - one section's failure is a finding
        entry = {"ok": False, "error": f"{type(error).__name__}: {error}",
                 "traceback": traceback.format_exc()}
    entry["seconds"] = round(time.perf_counter() - started, 1)
    state = "done" if entry["ok"] else f"FAILED ({entry['error'][:200]})"
    print(f"bench: {name} {state} in {entry['seconds']} s", file=sys.stderr, flush=True)
    return entry


def main() -> int:
    OUT.mkdir(exist_ok=True)
    started_at = datetime.now(timezone.utc)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "command": "make bench  (.venv/bin/python -m benchmarks.run)",
        "started_at": started_at.isoformat(timespec="seconds"),
        "machine": machine(),
        "sections": {},
    }
    sections = report["sections"]
    with (OUT / "bench.log").open("w") as log:
        sections["requests"] = _section("1-2 requests and CPU per record", "usage_requests",
                                        log)
        sections["cold_start"] = _section("3 cold start", "cold_start", log)
        sections["artifacts"] = _section("4 artifact size (sam build)", "artifacts", log)
        sections["notices"] = _section("6 render and send", "notices", log)
        left = BUDGET_SECONDS - (time.perf_counter() - started)
        sections["scan"] = _section(
            "5 scan cost", "scan_cost", log,
            lambda section: section.run(budget_seconds=max(30.0, left)))

    report["duration_s"] = round(time.perf_counter() - started, 1)
    report["machine"]["load_average_at_end"] = load_average()
    try:
        report["table"] = table_rows(sections)
        report["targets"] = targets(sections)
    except Exception as error:  # noqa: BLE001 - the figures are in the JSON all the same
        report["table"] = [_row("-", "table failed", f"{type(error).__name__}: {error}")]
        report["table_error"] = traceback.format_exc()
    (OUT / "bench.json").write_text(json.dumps(report, indent=2, default=str) + "\n")

    print(render_markdown(report))
    print(f"\nwritten: {(OUT / 'bench.json').relative_to(ROOT)}  "
          f"({report['duration_s']} s; machine: {report['machine']['nproc']} x "
          f"{report['machine']['cpu_model']}, Python {report['machine']['python']})")
    return 0


# --------------------------------------------------------------------------- table
def _x(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}×"


def _ms(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f} ms"


def _size(value: int | None) -> str:
    if value is None:
        return "—"
    if value >= 1024 * 1024:
        return f"{value / (1024 * 1024):.1f} MiB"
    return f"{value / 1024:.1f} KiB"


def _yes(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "**no**")


Row = dict[str, str]


def _row(section: str, measure: str, ours: str, other: str = "", ratio: str = "",
         target: str = "", met: str = "") -> Row:
    return {"section": section, "measure": measure, "ours": ours, "comparator": other,
            "ratio": ratio, "target": target, "met": met}


def _failed(section: str, entry: dict[str, Any] | None) -> list[Row]:
    error = (entry or {}).get("error", "not run")
    return [_row(section, "section failed", error[:160])]


def table_rows(sections: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    rows += _usage_rows(sections.get("requests"))
    rows += _cold_rows(sections.get("cold_start"))
    rows += _artifact_rows(sections.get("artifacts"))
    rows += _scan_rows(sections.get("scan"))
    rows += _notice_rows(sections.get("notices"))
    return rows


def _usage_rows(entry: dict[str, Any] | None) -> list[Row]:
    if not entry or not entry.get("ok"):
        return _failed("1", entry) + _failed("2", entry)
    scenarios = entry["result"]["scenarios"]
    rows = []
    for scenario in scenarios:
        ours, theirs = scenario["ours"], scenario["comparator"]
        ten = scenario["accounts"] == 10
        rows.append(_row(
            "1", f"DynamoDB requests per record, batch of 100 over {scenario['accounts']} "
                 f"account{'s' if scenario['accounts'] > 1 else ''}",
            f"{ours['requests_per_record']:.2f}", f"{theirs['requests_per_record']:.2f}",
            _x(scenario["request_ratio"]), "≥ 20× fewer" if ten else "",
            _yes(scenario["request_ratio"] >= 20) if ten else ""))
    ten = next(s for s in scenarios if s["accounts"] == 10)
    ours, theirs = ten["ours"], ten["comparator"]
    rows.append(_row(
        "1", "account writes per account per batch / idempotency writes per record "
             "(10 accounts)",
        f"{ours['account_writes_per_account_per_batch']:.1f} / "
        f"{ours['idempotency_writes_per_record']:.0f}",
        f"{theirs['account_writes_per_account_per_batch']:.1f} / "
        f"{theirs['idempotency_writes_per_record']:.0f}",
        "", "≤ 1 / 0",
        _yes(ours["account_writes_per_account_per_batch"] <= 1
             and ours["idempotency_writes_per_record"] == 0)))
    rows.append(_row(
        "1", "same batch redelivered (10 accounts): requests per record",
        f"{ten['ours']['redelivered_requests_per_record']:.2f}",
        f"{ten['comparator']['redelivered_requests_per_record']:.2f}",
        _x(ten["comparator"]["redelivered_requests_per_record"]
           / max(1e-9, ten["ours"]["redelivered_requests_per_record"]))))
    for scenario in scenarios:
        ours, theirs = scenario["ours"], scenario["comparator"]
        rows.append(_row(
            "2", f"handler CPU per record, moto excluded ({scenario['accounts']} "
                 f"account{'s' if scenario['accounts'] > 1 else ''})",
            _ms(ours["handler_cpu_ms_per_record"], 3),
            _ms(theirs["handler_cpu_ms_per_record"], 3), _x(scenario["cpu_ratio"])))
    return rows


def _cold_rows(entry: dict[str, Any] | None) -> list[Row]:
    if not entry or not entry.get("ok"):
        return _failed("3", entry)
    result = entry["result"]
    boto3 = f"import boto3 {_ms(result['baseline']['cpu_ms'], 0)}"
    rows = []
    for name, info in result["functions"].items():
        rows.append(_row(
            "3", f"cold start {name}: import + init, CPU, {result['runs']} rounds",
            _ms(info["cpu_ms"], 0), boto3,
            f"{_x(info['ratio_cpu'], 2)} (wall {_x(info['ratio_wall'], 2)})",
            "≤ 1.3×" if "target" in info else "(none; see text)",
            _yes(info.get("target_met")) if "target" in info else ""))
    for name, info in result["functions"].items():
        first = info["first_invocation"]
        rows.append(_row(
            "3", f"… {name} with what its first invocation sets up (AWS clients"
                 f"{', first render' if name == 'send_notice' else ''})",
            _ms(first["cpu_ms"], 0),
            f"{first['baseline']} {_ms(result['baselines_with_clients'][first['baseline']]['cpu_ms'], 0)}",
            f"{_x(first['ratio_cpu'], 2)} (wall {_x(first['ratio_wall'], 2)})"))
    return rows


def _artifact_rows(entry: dict[str, Any] | None) -> list[Row]:
    if not entry or not entry.get("ok"):
        return _failed("4", entry)
    result = entry["result"]
    if "skipped" in result:
        return [_row("4", "sam build", f"skipped: {result['skipped']}")]
    artifacts = result["artifacts"]
    layer = artifacts.get("CommonLayer", {})
    largest = result["layer_largest_packages"][:1]
    note = (f"of which {largest[0]['package']} {_size(largest[0]['zipped_bytes'])}"
            if largest else "")
    locale_data = result.get("layer_babel_locale_data_zipped_bytes")
    if locale_data is not None:
        trimmed = " trimmed" if result.get("layer_babel_locale_data_trimmed") else ""
        note += (f"{', ' if note else ''}Babel locale data{trimmed} {_size(locale_data)}"
                 f" ({result['layer_babel_locales']} locales)")
    rows = [
        _row("4", "CommonLayer zipped (unzipped)",
             f"{_size(layer.get('zipped_bytes'))} ({_size(layer.get('unzipped_bytes'))})",
             note, "", "≤ 5 MB", _yes(result["layer_target_met"])),
        _row("4", "CommonLayer carries boto3/botocore",
             "no" if result["layer_without_boto3_botocore"]
             else ", ".join(result["layer_carries_runtime_packages"]),
             "", "", "no", _yes(result["layer_without_boto3_botocore"])),
    ]
    api_layer = artifacts.get("ApiLayer")
    if api_layer:  # pydantic, for ApiFunction only; the 5 MB target is CommonLayer's
        api_packages = result.get("api_layer_packages", [])
        loads = result.get("api_function_loads", {})
        stray = sorted({*result.get("packages_in_both_layers", []),
                        *result.get("api_layer_carries_runtime_packages", [])})
        rows += [
            _row("4", "ApiLayer zipped (unzipped), ApiFunction only",
                 f"{_size(api_layer['zipped_bytes'])} ({_size(api_layer['unzipped_bytes'])})",
                 ", ".join(f"{item['package']} {_size(item['zipped_bytes'])}"
                           for item in api_packages[:2])),
            _row("4", "ApiFunction loads in all: its code + both layers, zipped (unzipped)",
                 f"{_size(loads.get('zipped_bytes'))} ({_size(loads.get('unzipped_bytes'))})"),
            _row("4", "ApiLayer repeats a CommonLayer package or carries boto3/botocore/...",
                 ", ".join(stray) or "no", "", "", "no", _yes(not stray)),
        ]
    functions = {k: v for k, v in artifacts.items() if k.endswith("Function")}
    rows.append(_row("4", "functions zipped",
                     ", ".join(f"{k.removesuffix('Function')} {_size(v['zipped_bytes'])}"
                               for k, v in functions.items()),
                     "", "", "a few KB", _yes(result["functions_target_met"])))
    return rows


def _scan_rows(entry: dict[str, Any] | None) -> list[Row]:
    if not entry or not entry.get("ok"):
        return _failed("5", entry)
    result = entry["result"]
    rows = []
    for size in result["sizes"]:
        label = f"{size['accounts']:,} accounts, 1 % at risk"
        if size["accounts"] != size["requested_accounts"]:
            label += f" (instead of {size['requested_accounts']:,}: time)"
        ours, full = size["ours"], size["full_table_scan"]
        rows.append(_row("5", f"items read, {label}", f"{ours['items_read']:,}",
                         f"{full['items_read']:,} (full Scan)", _x(size["items_read_ratio"], 0)))
        rows.append(_row("5", f"time on moto, {label}",
                         f"{ours['wall_s_on_moto']:.2f} s", f"{full['wall_s_on_moto']:.2f} s",
                         _x(size["wall_ratio_on_moto"])))
        rows.append(_row("5", f"handler CPU (moto excluded), {label}",
                         f"{ours['handler_cpu_s']:.2f} s", f"{full['handler_cpu_s']:.2f} s",
                         _x(size["handler_cpu_ratio"])))
    for note in result.get("notes", []):
        rows.append(_row("5", "not measured", note))
    return rows


def _notice_rows(entry: dict[str, Any] | None) -> list[Row]:
    if not entry or not entry.get("ok"):
        return _failed("6", entry)
    result = entry["result"]
    first, warm, render = result["first"], result["warm"], result["render_only"]
    requests = warm["requests_per_notice"]
    per_notice = warm["notices_per_run"]
    detail = "; ".join(
        f"{label}: " + ", ".join(f"{count / per_notice:g} {operation}"
                                 for operation, count in warm["calls"][service].items())
        for label, service in (("SES", "sesv2"), ("DynamoDB", "dynamodb")))
    return [
        _row("6", "send_notice per notice (2 emails): first in container → warm",
             _ms(warm["handler_ms_per_notice"]), f"first {_ms(first['handler_ms_per_notice'])}",
             _x(result["first_to_warm_ratio"])),
        _row("6", "render one email: compiled once → cached",
             _ms(render["warm_render_ms"], 3), f"first {_ms(render['first_render_ms'])}",
             _x(render["ratio"], 0)),
        _row("6", "requests per notice (warm): DynamoDB / SES / EventBridge",
             f"{requests['dynamodb']:g} / {requests['sesv2']:g} / {requests['events']:g}",
             detail),
    ]


def targets(sections: dict[str, Any]) -> dict[str, Any]:
    def result(name: str) -> dict[str, Any] | None:
        entry = sections.get(name) or {}
        return entry.get("result") if entry.get("ok") else None

    usage, cold, art, scan = (result(n) for n in ("requests", "cold_start", "artifacts",
                                                  "scan"))
    out: dict[str, Any] = {}
    out["requests_20x_at_10_accounts"] = usage["target_met"] if usage else None
    if cold:
        out.update({f"cold_start_{name}_le_1.3x": info.get("target_met")
                    for name, info in cold["functions"].items() if "target" in info})
    if art and "skipped" not in art:
        out["layer_le_5MB"] = art["layer_target_met"]
        out["layer_without_boto3_botocore"] = art["layer_without_boto3_botocore"]
        out["functions_few_KB"] = art["functions_target_met"]
    out["scan_10k_and_100k_measured"] = scan["all_sizes_measured"] if scan else None
    return out


def render_markdown(report: dict[str, Any]) -> str:
    header = ["#", "Measure", "balance-alerts", "Comparator", "Ratio", "Target", "Met"]
    keys = ["section", "measure", "ours", "comparator", "ratio", "target", "met"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in report["table"]:
        lines.append("| " + " | ".join(row[key].replace("|", "/") for key in keys) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
