"""One botocore session per thread for every AWS client a function makes.

pynamodb gives each table connection a botocore session of its own, and each new session
loads botocore's endpoint, partition and service data again: tens of milliseconds per
table at the first request of a cold container. ``install`` makes pynamodb take its
sessions from ``botocore_session``, so the tables, the transaction connection and the
SES and EventBridge clients share one per thread. (Per thread, as pynamodb keeps them:
creating clients from one session on two threads at once is not safe in botocore.)
"""

from __future__ import annotations

import threading

import botocore.session
from pynamodb.connection import base as pynamodb_connection

_local = threading.local()


def botocore_session() -> botocore.session.Session:
    """This thread's botocore session, created on first use."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = botocore.session.get_session()
    return session


def install() -> None:
    """Make every pynamodb connection created from now on use ``botocore_session``."""
    pynamodb_connection.get_session = botocore_session  # type: ignore[assignment]
