"""The use cases, one module each: plain functions over the ports in ``adapters`` (stores,
channels, events) and the pure rules in ``domain``. The handlers in ``functions/`` call
them; nothing in ``adapters`` or ``domain`` imports them."""
