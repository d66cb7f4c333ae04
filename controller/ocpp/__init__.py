"""The OCPP side of the controller: server, per-version handlers, outbound requests, profiles."""
