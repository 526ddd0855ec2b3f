"""Operator tools for balance-alerts: ``python -m ops {replay,redrive,explain} ...``.

See docs/runbook.md for when to use each command.
"""
