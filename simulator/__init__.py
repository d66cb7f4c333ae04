"""Simulated chargers and EVs speaking real OCPP 1.6J, scenarios and an accelerated clock.

The other side of the wire, for the control-loop tests, the demo, the notebooks and the
benchmarks. It imports nothing from ``controller/``: it talks to any OCPP 1.6J central system
by URL (:class:`simulator.site.SimSite`), or plays a scenario in-process without sockets
(:func:`simulator.replay.replay`).

Modules: ``clock`` (accelerated and stepped clocks), ``ev`` (car physics), ``profiles``
(the OCPP 1.6 composite-schedule rules), ``charger`` (one simulated charge point),
``scenario`` (sessions, generated or loaded from CSV), ``site`` (many chargers playing a
scenario), ``record`` (what was measured), ``replay`` (the same physics without sockets).
"""

from simulator.errors import ProfileError, ScenarioError, SimulatorError

__all__ = ["ProfileError", "ScenarioError", "SimulatorError"]
