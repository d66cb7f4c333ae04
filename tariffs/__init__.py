"""Pure tariff library: prices per slot. No network, no clock."""
