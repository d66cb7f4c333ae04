"""sitecharge controller: everything with I/O and time (OCPP, store, API, control loop)."""
