"""The showcase: a simulated site's day under sitecharge and under the baselines.

Every strategy is a replay through the controller's own pipeline (:mod:`controller.replay`):
real websockets to simulated chargers on the event-stepped clock. Only the demo, replay and the
simulate command import the simulator.
"""
