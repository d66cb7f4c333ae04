"""The control loop, one job per module.

- ``triggers``: when a cycle runs (interval, events, debounce);
- ``cycle``: ``ControlLoop``, one cycle = snapshot -> plan -> dispatch -> verify;
- ``planner``: the planner the loop is given (the optimiser on a thread, or inline);
- ``orders`` and ``dispatch``: plan -> profile orders -> cuts before raises;
- ``ledger``: typed records of what each charger holds, per acknowledgement;
- ``standing``: the TxDefault safe share, uncontrollable chargers and their probes;
- ``compliance``: flag, reserve, re-send, clear;
- ``records``: what each cycle decided.
"""

from controller.loop.cycle import ControlLoop
from controller.loop.records import CycleRecord, CycleState

__all__ = ["ControlLoop", "CycleRecord", "CycleState"]
