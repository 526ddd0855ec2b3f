"""Pictures of the built-in emails, for docs/templates.md and the README.

Renders every built-in template (notice type x audience) with the preview sample data,
exactly as SendNoticeFunction would, puts a mail-client style header (from, to, subject)
above the email's own HTML, and takes a PNG of it with headless Chromium:

    make screenshots                       # writes docs/emails/<type>-<audience>.png
    python -m tools.screenshots --out DIR  # with PYTHONPATH=.:layers/common

Needs Chromium (Debian: ``apt-get install chromium``; or set ``CHROMIUM`` to a Chrome
binary). A docs tool: ``make test`` does not run it. Each page is measured first
(``--dump-dom`` of a copy that records its height), so the picture ends with the email.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from balance_alerts.adapters.preview import sample_variables
from balance_alerts.adapters.template_store import render
from balance_alerts.domain.model import AUDIENCES
from balance_alerts.domain.rules import NOTICE_TYPES

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "emails"
WIDTH = 640
MOBILE_WIDTH = 390
SENDER = "Acme Music School <office@acme-music.test>"
RECIPIENTS = {"customer": "Jordan Smith <jordan@example.com>",
              "staff": "office@acme-music.test"}
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: Headless Chromium lays pages out at least this wide in --dump-dom (not in
#: --screenshot), so narrower pages are measured with the document held to their width.
_MIN_WINDOW = 500
_MEASURE = ("<script>document.documentElement.style.width = '{width}px';"
            "document.body.setAttribute('data-height', String(document.body.scrollHeight));"
            "</script>")


def chromium() -> str:
    found = os.environ.get("CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)
    if not found:
        sys.exit("Chromium not found: apt-get install chromium, or set CHROMIUM=/path/to/chrome")
    return found


def page(notice_type: str, audience: str) -> tuple[str, str]:
    """The HTML to photograph and the email's subject."""
    variables = sample_variables(notice_type)
    email = render(notice_type, audience, variables)
    header = (
        '<div style="background:#ffffff;border-bottom:1px solid #d1d5db;padding:12px 20px;'
        'font-family:Arial,Helvetica,sans-serif;font-size:13px;line-height:20px;color:#4b5563;">'
        f'<div style="font-size:16px;line-height:24px;font-weight:bold;color:#111827;'
        f'margin-bottom:4px;">{html.escape(email.subject)}</div>'
        f"<div><b>From</b> {html.escape(SENDER)}</div>"
        f"<div><b>To</b> {html.escape(RECIPIENTS[audience])}</div></div>"
    )
    body = re.search(r"<body[^>]*>", email.html)
    if body is None:
        raise ValueError(f"{notice_type}/{audience}: no <body> in the rendered HTML")
    return email.html[: body.end()] + header + email.html[body.end():], email.subject


def _run(browser: str, profile: str, *args: str) -> str:
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--hide-scrollbars", "--force-device-scale-factor=1",
        f"--user-data-dir={profile}", *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def shoot(browser: str, document: str, target: Path, width: int, work: Path) -> None:
    """Measure the page at ``width``, then take a picture exactly that tall."""
    profile = tempfile.mkdtemp(dir=work)
    measured = work / f"{target.stem}-{width}-measure.html"
    script = _MEASURE.format(width=width)
    measured.write_text(document.replace("</body>", script + "</body>"), encoding="utf-8")
    dom = _run(browser, profile, f"--window-size={max(width, _MIN_WINDOW)},200",
               "--dump-dom", measured.as_uri())
    found = re.search(r'data-height="(\d+)"', dom)
    height = min(int(found.group(1)), 4000) if found else 1200
    source = work / f"{target.stem}-{width}.html"
    source.write_text(document, encoding="utf-8")
    _run(browser, profile, f"--window-size={width},{height}",
         f"--screenshot={target}", source.as_uri())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the PNGs")
    args = parser.parse_args(argv)
    browser = chromium()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for notice_type in NOTICE_TYPES:
            for audience in AUDIENCES:
                document, subject = page(notice_type, audience)
                target = args.out / f"{notice_type}-{audience}.png"
                shoot(browser, document, target, WIDTH, work)
                print(f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}"
                      f"  {target.stat().st_size // 1024} KiB  {subject}")
        document, _ = page("balance_low", "customer")
        target = args.out / "balance_low-customer-mobile.png"
        shoot(browser, document, target, MOBILE_WIDTH, work)
        print(f"{target.name}  {target.stat().st_size // 1024} KiB  (phone width)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
