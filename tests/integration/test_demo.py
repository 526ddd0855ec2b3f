"""`make demo` runs to the end and shows what README.md promises of the lesson school:
families with members, two piano packages for one child whose lessons span them, one
alert per package (a family package without a member never alerts: the school tracks
packages by member), and the package balances as a small table."""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from local import demo


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The demo's printout and the folder its emails were written to."""
    out = tmp_path_factory.mktemp("out")
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
        patch.setattr(demo, "OUT", out)
        assert demo.run() == 0
    return printed.getvalue(), out


def _section(printed: str, title: str) -> list[str]:
    """The lines of one ``== title`` section, blank ones and the header row left out."""
    block = printed.split(f"== {title}", 1)[1].split("\n== ", 1)[0]
    return [" ".join(line.split()) for line in block.splitlines()[1:] if line.strip()]


def test_the_package_balances_table_shows_remaining_of_purchased_per_item(run):
    printed, _ = run
    rows = _section(printed, "Package balances")[1:]
    assert rows == [
        # Mia's 12 piano lessons: 5 from the first package, 7 from the second (the
        # double lesson on day 10 spans the two); the first left the account item
        "fam-lee mia Piano, 5 lessons piano 0 / 5 140.00 EUR retired",
        "fam-lee - Theory group, 6 classes theory 1 / 6 62.50 EUR current",
        "fam-lee mia Piano, 8 lessons piano 1 / 8 182.00 EUR current",
        "fam-ortiz sofia Guitar, 8 lessons guitar 4 / 8 104.00 EUR current",
        "fam-ortiz sofia (no package) drums 1 unallocated",
    ]


def test_one_alert_per_package_to_the_family_and_the_front_desk(run):
    printed, out = run
    notices = [line for line in _section(printed, "Notices") if "package_low" in line]
    assert len(notices) == 2 and all("riverside-music/fam-lee" in n for n in notices)
    subjects = re.findall(r'"([^"\n]*)"', printed.split("== Emails sent", 1)[1])
    package_subjects = [s for s in subjects if "ackage" in s]
    assert package_subjects == [
        "Your Piano, 5 lessons package is running low: 2 of 5 left (mia)",
        "[Riverside Music School] Package low: The Lee family (mia), Piano, 5 lessons: "
        "2 of 5 left",
        "Your Piano, 8 lessons package is running low: 2 of 8 left (mia)",
        "[Riverside Music School] Package low: The Lee family (mia), Piano, 8 lessons: "
        "2 of 8 left",
    ]
    # the family's theory package (no member) used down to 1 of 6 never alerted
    assert not any("Theory" in s for s in subjects)
    # and every email was written as .eml and .html
    assert len(list((out / "emails").glob("*.eml"))) == len(subjects)
    assert len(list((out / "emails").glob("*.html"))) == len(subjects)
