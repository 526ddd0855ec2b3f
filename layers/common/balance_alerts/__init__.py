"""balance-alerts shared code: the pure domain (``domain``) and the AWS adapters (``adapters``)."""
