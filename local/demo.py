"""`make demo`: a realistic month of prepaid balances, run through the real handlers on
the embedded local runtime (moto in-process). No AWS account needed.

Two tenants - an energy retailer billing in money, a music school selling packages of
lessons to families - set up their settings and alert profiles through the API, create
accounts, top them up, buy packages, and push a stream of usage. The ledger stream
drives on_usage; notices stream into send_notice, which renders and sends email through
(moto's) SES v2. A scheduled scan a day later sends reminders. The summary shows
balances, package balances (remaining / purchased per item), every notice and why, and
every email; each email is written to out/emails/ as .html and .eml.
"""

from __future__ import annotations

import random
import shutil
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .cfn import ROOT
from .mailbox import capture_emails
from .runtime import LocalAws

OUT = ROOT / "out"

ACME = "acme-energy"
SCHOOL = "riverside-music"

ACME_SETTINGS = {
    "name": "Acme Energy",
    "from_email": "billing@acme.test",
    "staff_emails": ["ops@acme.test"],
    "default_currency": "USD",
    "default_profile_id": "standard",
}
ACME_PROFILE = {
    "name": "Standard",
    "reminder_every_hours": 24,
    "max_reminders": 2,
    "rules": [
        {"id": "low", "type": "balance_below", "threshold": "20.00",
         "notify": ["customer", "staff"], "notify_recovery": True},
        {"id": "empty", "type": "balance_below", "threshold": "0",
         "notify": ["customer", "staff"]},
        {"id": "runway", "type": "runs_out", "days": [10, 5, 3, 1, 0], "notify": ["customer"]},
    ],
}
SCHOOL_SETTINGS = {
    "name": "Riverside Music School",
    "from_email": "office@school.test",
    "staff_emails": ["frontdesk@school.test"],
    "default_currency": "EUR",
    "default_profile_id": "gentle",
    "track_packages_by": "member",  # a family's shared package never alerts
}
SCHOOL_PROFILE = {
    "name": "Gentle",
    "rules": [
        {"id": "low", "type": "balance_below", "threshold": "30.00", "notify": ["customer"],
         "notify_recovery": True},
        {"id": "idle", "type": "inactive", "threshold": "5.00", "inactive_days": 30,
         "notify": ["customer", "staff"]},
        {"id": "lessons", "type": "package_below", "remaining": "2",
         "notify": ["customer", "staff"]},
    ],
}

ACCOUNTS = {
    ACME: [
        ("ana", {"name": "Ana Souza", "email": "ana@customer.test"}),
        ("ben", {"name": "Ben Weber", "email": "ben@customer.test",
                 "extra_emails": ["ben.accounts@customer.test"], "locale": "de_DE",
                 "timezone": "Europe/Berlin"}),
        ("cara", {"name": "Cara Industries", "email": "ap@cara.test", "billing": "postpaid"}),
        ("dan", {"name": "Dan Moss", "email": "dan@customer.test", "status": "suspended"}),
    ],
    SCHOOL: [
        ("fam-lee", {"name": "The Lee family", "email": "lee@family.test", "locale": "en_GB"}),
        ("fam-ortiz", {"name": "The Ortiz family", "email": "ortiz@family.test",
                       "locale": "es_ES"}),
    ],
}


class Demo:
    def __init__(self, aws: LocalAws) -> None:
        self.aws = aws
        self.counter = 0

    def call(self, tenant: str, method: str, path: str, body: Any = None,
             expect: tuple[int, ...] = (200, 201, 202)) -> Any:
        response = self.aws.api(method, path, body=body, tenant=tenant, role="admin")
        if response.status not in expect:
            raise SystemExit(f"{method} {path} -> {response.status}: {response.body}")
        return response

    def entry(self, tenant: str, account: str, kind: str, amount: str, **fields: Any) -> None:
        self.counter += 1
        entry_id = fields.pop("entry_id", f"{kind}-{self.counter:04d}")
        self.call(tenant, "POST", f"/accounts/{account}/entries",
                  {"entry_id": entry_id, "kind": kind, "amount": amount, **fields})

    def package(self, tenant: str, account: str, body: dict[str, Any]) -> None:
        self.call(tenant, "POST", f"/accounts/{account}/packages", body)

    def lesson(self, tenant: str, account: str, service: str, quantity: str,
               member_id: str | None) -> None:
        self.counter += 1
        body = {"entry_id": f"lesson-{self.counter:04d}", "kind": "charge",
                "service": service, "quantity": quantity,
                "description": f"{service} lesson"}
        if member_id:
            body["member_id"] = member_id
        self.call(tenant, "POST", f"/accounts/{account}/entries", body)

    def drain(self) -> None:
        self.aws.pump()


def step(text: str) -> None:
    print(f"\n== {text}")


START = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)
DAYS = 31

# Average daily usage per account (cents), and the days it uses the service.
USAGE = {
    (ACME, "ana"): (650, range(DAYS)),
    (ACME, "ben"): (900, range(DAYS)),
    (ACME, "cara"): (1500, range(DAYS)),
    (ACME, "dan"): (500, range(0, DAYS, 3)),
    (SCHOOL, "fam-lee"): (1100, [d for d in range(DAYS) if d % 7 in (1, 4)]),
}
# The music school sells packages of lessons: day -> (account, package). Mia Lee's
# second piano package is bought before the first runs out; the Lees also share a
# family package of theory classes (no member: never alerted, the school tracks
# packages by member).
PACKAGES = {
    0: [("fam-lee", {"package_id": "lee-mia-piano-1", "name": "Piano, 5 lessons",
                     "member_id": "mia", "price": "140.00",
                     "items": [{"service": "piano", "quantity": "5", "unit_price": "28.00"}]}),
        ("fam-lee", {"package_id": "lee-theory", "name": "Theory group, 6 classes",
                     "items": [{"service": "theory", "quantity": "6",
                                "unit_price": "12.50"}]}),
        ("fam-ortiz", {"package_id": "ortiz-sofia-guitar", "name": "Guitar, 8 lessons",
                       "member_id": "sofia",
                       "items": [{"service": "guitar", "quantity": "8",
                                  "unit_price": "26.00"}]})],
    9: [("fam-lee", {"package_id": "lee-mia-piano-2", "name": "Piano, 8 lessons",
                     "member_id": "mia", "price": "208.00",
                     "items": [{"service": "piano", "quantity": "8", "unit_price": "26.00"}]})],
}
# Lessons taken: day -> (account, service, lessons, member). Day 10 is Mia's double
# lesson: its last unit of package 1 and its first of package 2.
LESSONS = {
    1: [("fam-lee", "piano", "1", "mia"), ("fam-lee", "theory", "1", None)],
    3: [("fam-lee", "piano", "1", "mia"), ("fam-ortiz", "guitar", "1", "sofia")],
    5: [("fam-lee", "piano", "1", "mia")],
    8: [("fam-lee", "piano", "1", "mia"), ("fam-lee", "theory", "1", None),
        ("fam-ortiz", "guitar", "1", "sofia")],
    10: [("fam-lee", "piano", "2", "mia")],
    12: [("fam-lee", "piano", "1", "mia"), ("fam-ortiz", "drums", "1", "sofia")],
    15: [("fam-lee", "piano", "1", "mia"), ("fam-lee", "theory", "1", None)],
    17: [("fam-lee", "piano", "1", "mia"), ("fam-ortiz", "guitar", "1", "sofia")],
    19: [("fam-lee", "piano", "1", "mia")],
    22: [("fam-lee", "piano", "1", "mia"), ("fam-lee", "theory", "1", None)],
    24: [("fam-lee", "piano", "1", "mia"), ("fam-ortiz", "guitar", "1", "sofia")],
    29: [("fam-lee", "theory", "1", None)],
}
TOP_UPS = {
    0: [(ACME, "ana", "150.00"), (ACME, "ben", "60.00"), (ACME, "dan", "10.00"),
        (SCHOOL, "fam-lee", "80.00"), (SCHOOL, "fam-ortiz", "4.00")],
    12: [(ACME, "ben", "250.00")],
    19: [(ACME, "ana", "120.00")],
}


def run() -> int:
    import time_machine

    shutil.rmtree(OUT / "emails", ignore_errors=True)
    rng = random.Random(20261130)
    with time_machine.travel(START, tick=False) as clock, \
            LocalAws(verified_senders=("billing@acme.test", "office@school.test"),
                     log_level="ERROR") as aws, capture_emails() as mailbox:
        demo = Demo(aws)

        step(f"{START:%Y-%m-%d}: two tenants configure settings and alert profiles via the API")
        demo.call(ACME, "PUT", "/settings", ACME_SETTINGS)
        demo.call(ACME, "PUT", "/profiles/standard", ACME_PROFILE)
        demo.call(SCHOOL, "PUT", "/settings", SCHOOL_SETTINGS)
        demo.call(SCHOOL, "PUT", "/profiles/gentle", SCHOOL_PROFILE)
        for tenant, accounts in ACCOUNTS.items():
            for account_id, body in accounts:
                demo.call(tenant, "PUT", f"/accounts/{account_id}", body)
                print(f"   {tenant}: account {account_id} ({body.get('billing', 'prepaid')}, "
                      f"{body.get('status', 'active')})")

        step("A simulated month: usage through the ledger stream, the scan daily at 09:00")
        for day in range(DAYS):
            morning = START + timedelta(days=day)
            clock.move_to(morning)
            for tenant, account, amount in TOP_UPS.get(day, []):
                demo.entry(tenant, account, "credit", amount, description="Top-up")
            for account, body in PACKAGES.get(day, []):
                demo.package(SCHOOL, account, body)
            charges = 0
            for account, service, quantity, member_id in LESSONS.get(day, []):
                demo.lesson(SCHOOL, account, service, quantity, member_id)
                charges += 1
            for (tenant, account), (cents, days) in USAGE.items():
                if day in days:
                    value = cents + rng.randint(-cents // 5, cents // 5)
                    demo.entry(tenant, account, "charge", f"{value // 100}.{value % 100:02d}",
                               description="Usage")
                    charges += 1
            demo.drain()
            clock.move_to(morning + timedelta(hours=1))
            report = aws.scan()
            demo.drain()
            created = len(mailbox.emails)
            print(f"   day {day + 1:02d} {morning:%Y-%m-%d}: {charges} charges, scan read "
                  f"{report['accounts_read']} watched account(s), {report['notices']} "
                  f"notice(s); {created} emails so far")

        step("Idempotency, validation and isolation at the API")
        again = demo.call(ACME, "POST", "/accounts/ana/entries",
                          {"entry_id": "credit-0001", "kind": "credit", "amount": "150.00",
                           "description": "Top-up"}, expect=(200, 202))
        print(f"   same entry_id, same body again -> {again.status} (no second effect)")
        conflict = demo.call(ACME, "POST", "/accounts/ana/entries",
                             {"entry_id": "credit-0001", "kind": "credit", "amount": "999"},
                             expect=(409,))
        print(f"   same entry_id, other body -> {conflict.status}: {conflict.body['message']}")
        bad = demo.call(ACME, "POST", "/accounts/ana/entries",
                        {"entry_id": "x1", "kind": "charge", "amount": "1e3"},
                        expect=(400, 422))
        print(f"   amount \"1e3\" -> {bad.status}: {bad.body['message']}")
        other = aws.api("GET", "/accounts/ana", tenant=SCHOOL, role="admin")
        print(f"   another tenant reads acme's account -> {other.status}")
        demo.drain()

        summary(aws)
        files = mailbox.write(OUT / "emails")
        step(f"Emails sent: {len(mailbox.emails)} (written to {_rel(OUT / 'emails')}/)")
        for email in mailbox.emails:
            bcc = f" bcc {', '.join(email.bcc)}" if email.bcc else ""
            print(f"   {email.sender} -> {', '.join(email.to)}{bcc}\n      \"{email.subject}\"")
        print(f"\n{len(files)} emails written as .eml and .html under {_rel(OUT / 'emails')}/")
    return 0


def summary(aws: LocalAws) -> None:
    step("Balances")
    print(f"   {'tenant':<16} {'account':<10} {'billing':<9} {'status':<10} {'balance':>10}")
    for tenant, accounts in ACCOUNTS.items():
        for account_id, _ in accounts:
            body = aws.api("GET", f"/accounts/{account_id}", tenant=tenant).body
            print(f"   {tenant:<16} {account_id:<10} {body['billing']:<9} {body['status']:<10} "
                  f"{body['balance']:>10} {body['currency']}")
    package_balances(aws)
    step("Notices (the outbox and audit log) and why")
    for tenant, accounts in ACCOUNTS.items():
        for account_id, _ in accounts:
            notices = aws.api("GET", f"/accounts/{account_id}/notices", tenant=tenant,
                              query={"limit": "50"}).body["notices"]
            if not notices:
                why = _why_none(aws, tenant, account_id)
                print(f"   {tenant}/{account_id}: none ({why})")
            for notice in reversed(notices):
                reason = f" - {notice['reason']}" if notice.get("reason") else ""
                print(f"   {notice['created_at'][:10]} {tenant}/{account_id}: "
                      f"{notice['type']:<17} rule={notice['rule_id']:<6} "
                      f"level={notice['level']:<6} reminder={notice['reminder']} "
                      f"{notice['status']}{reason}")


def package_balances(aws: LocalAws) -> None:
    step(f"Package balances ({SCHOOL}): remaining / purchased per item")
    print(f"   {'account':<10} {'member':<7} {'package':<24} {'service':<7} "
          f"{'left/bought':>11} {'used':>12}  status")
    for account_id, _ in ACCOUNTS[SCHOOL]:
        currency = aws.api("GET", f"/accounts/{account_id}", tenant=SCHOOL).body["currency"]
        body = aws.api("GET", f"/accounts/{account_id}/packages", tenant=SCHOOL).body
        for package in body["packages"]:
            for item in package["items"]:
                left = f"{item['remaining']} / {item['purchased']}"
                used = f"{item['amount_used']} {currency}"
                print(f"   {account_id:<10} {package['member_id'] or '-':<7} "
                      f"{package['name']:<24} {item['service']:<7} {left:>11} {used:>12}  "
                      f"{package['status']}")
        for row in body["unallocated"]:
            print(f"   {account_id:<10} {row['member_id'] or '-':<7} {'(no package)':<24} "
                  f"{row['service']:<7} {row['quantity'] + ' unallocated':>24}")


def _why_none(aws: LocalAws, tenant: str, account_id: str) -> str:
    body = aws.api("GET", f"/accounts/{account_id}", tenant=tenant).body
    if body["billing"] == "postpaid":
        return "post-paid accounts get no money notices"
    if body["status"] != "active":
        return f"status is {body['status']}; only active accounts are notified"
    return "balance never went below a threshold"


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(run())
