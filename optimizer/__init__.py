"""Pure site charging optimiser: Problem in, Plan out. No I/O, no clock."""
