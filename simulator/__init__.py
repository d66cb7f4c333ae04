"""Simulated chargers and EVs speaking real OCPP 1.6J, scenarios and an accelerated clock."""
