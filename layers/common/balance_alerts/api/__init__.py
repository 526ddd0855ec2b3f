"""The REST API of balance-alerts (ApiFunction): identity and roles (``auth``), strict JSON
bodies (``body``), request and response models (``schemas``, ``responses``), opaque
cursors (``cursors``), data access (``accounts``, ``entries``, ``notices``) and the
Powertools routers (``routes_*``). ``functions/api/app.py`` wires them together."""
