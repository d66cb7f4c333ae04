"""The showcase: a simulated site's day under sitecharge and under the baselines.

The sitecharge run goes over real websockets (controller + simulated chargers on one
accelerated clock); the baselines replay the same scenario in-process through the same EV
physics. Only the demo and the simulate command import the simulator.
"""
