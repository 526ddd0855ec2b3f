"""The use cases, one module per job: ``on_usage`` (apply a batch of ledger entries),
``periodic_scan`` (the scheduled evaluation), ``send_notice`` (deliver a notice). Each is
plain functions over the stores, channels and events in adapters/ and the pure rules in
domain/; the handlers in functions/ only parse the event and call one of them."""
