"""``python -m ops``: the operator's commands (see docs/runbook.md).

    python -m ops --stack balance-alerts replay --queue on-usage [--dry-run]
    python -m ops --stack balance-alerts replay --message-file message.json
    python -m ops --stack balance-alerts redrive --tenant T [--account A] [--notice KEY]
    python -m ops --stack balance-alerts redrive --tenant T --status pending
    python -m ops --stack balance-alerts explain --tenant T --account A [--json]

``--stack`` reads the resources of a deployed stack (credentials and region from the
usual AWS environment) and runs functions on Lambda; ``--local`` works against the local
runtime's names (``make serve``: add ``--endpoint-url http://127.0.0.1:5055``).
Exit status: 0 done, 1 something is left to do (a record still failing, a notice not
sent), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from typing import Any

from .stack import Stack


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m ops", description=__doc__.split("\n\n")[0],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    where = root.add_mutually_exclusive_group()
    where.add_argument("--stack", help="name of the deployed CloudFormation stack")
    where.add_argument("--local", action="store_true",
                       help="the local runtime's resource names (make serve, tests)")
    root.add_argument("--region", help="AWS region (default: the environment's)")
    root.add_argument("--endpoint-url", help="with --local: a moto server's URL")
    root.add_argument("--json", action="store_true", help="print JSON instead of text")
    commands = root.add_subparsers(dest="command", required=True)

    replay = commands.add_parser(
        "replay", help="re-run the stream records named in on-failure queue messages")
    source = replay.add_mutually_exclusive_group(required=True)
    source.add_argument("--queue", help="on-usage, send-notice, a logical id or a queue URL")
    source.add_argument("--message-file", help="one on-failure message (JSON) from a file")
    replay.add_argument("--max-messages", type=int, default=100)
    replay.add_argument("--attempts", type=int, default=3,
                        help="invocations per record before giving up (the message stays)")
    replay.add_argument("--dry-run", action="store_true",
                        help="read and count the records; invoke nothing, delete nothing")

    redrive = commands.add_parser(
        "redrive", help="send failed (or stuck pending) notices again after a fix")
    redrive.add_argument("--tenant", required=True)
    redrive.add_argument("--account", help="one account (default: every account of the tenant)")
    redrive.add_argument("--notice", action="append", dest="notices", metavar="NOTICE_KEY",
                         help="only this notice (repeatable)")
    redrive.add_argument("--status", choices=["failed", "pending"], default="failed")
    redrive.add_argument("--older-than-minutes", type=int, default=15,
                         help="with --status pending: only notices older than this")
    redrive.add_argument("--dry-run", action="store_true")

    explain = commands.add_parser(
        "explain", help="why was (or wasn't) an account notified")
    explain.add_argument("--tenant", required=True)
    explain.add_argument("--account", required=True)
    explain.add_argument("--show-addresses", action="store_true",
                         help="print email addresses unmasked")
    return root


def main(argv: list[str] | None = None, *, stack: Stack | None = None,
         out: Any = None) -> int:
    """Run one command. ``stack`` replaces the one the options name (tests)."""
    out = out or sys.stdout
    args = parser().parse_args(argv)
    if stack is None:
        if args.stack:
            stack = Stack.from_cloudformation(args.stack, region=args.region)
        elif args.local:
            stack = Stack.local(endpoint_url=args.endpoint_url, region=args.region)
        else:
            print("say where: --stack NAME or --local", file=sys.stderr)
            return 2
    stack.apply_env()
    return {"replay": _replay, "redrive": _redrive, "explain": _explain}[args.command](
        stack, args, out)


def _print(out: Any, args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text, file=out)


def _replay(stack: Stack, args: argparse.Namespace, out: Any) -> int:
    from .replay import replay_message, replay_queue

    if args.message_file:
        with open(args.message_file, encoding="utf-8") as handle:
            message = json.load(handle)
        results = [replay_message(stack, message, attempts=args.attempts, dry_run=args.dry_run)]
    else:
        results = replay_queue(stack, args.queue, max_messages=args.max_messages,
                               attempts=args.attempts, dry_run=args.dry_run)
    lines = [f"{len(results)} message(s)"]
    for result in results:
        state = ("dry run" if args.dry_run else "done, message deleted" if result.deleted
                 else "done" if result.ok else "NOT DONE, message kept")
        lines.append(f"  {result.function}: {result.records} record(s), {result.skipped} "
                     f"filtered, {result.invocations} invocation(s): {state}"
                     + (f" - still failing: {result.failed}" if result.failed else "")
                     + (f" - {result.error}" if result.error else ""))
    _print(out, args, [r.as_dict() for r in results], "\n".join(lines))
    return 0 if all(r.ok for r in results) else 1


def _redrive(stack: Stack, args: argparse.Namespace, out: Any) -> int:
    from .redrive import find, redrive

    items = find(stack, args.tenant, account_id=args.account, notice_keys=args.notices,
                 status=args.status, older_than=timedelta(minutes=args.older_than_minutes))
    results = redrive(stack, items, dry_run=args.dry_run)
    lines = [f"{len(results)} notice(s) {'would be ' if args.dry_run else ''}re-driven"]
    for r in results:
        lines.append(f"  {r.account_key} {r.notice_key}: {r.before}"
                     + (f" ({r.reason})" if r.reason else "")
                     + (f" -> {r.after}" if r.after else "")
                     + (f" ({r.after_reason})" if r.after and r.after_reason else "")
                     + (f" - skipped: {r.skipped}" if r.skipped else ""))
    _print(out, args, [r.as_dict() for r in results], "\n".join(lines))
    left = [r for r in results if not args.dry_run and not r.skipped and r.after != "sent"]
    return 1 if left else 0


def _explain(stack: Stack, args: argparse.Namespace, out: Any) -> int:
    from .explain import explain, render

    report = explain(stack, args.tenant, args.account, show_addresses=args.show_addresses)
    _print(out, args, report, render(report))
    return 0
