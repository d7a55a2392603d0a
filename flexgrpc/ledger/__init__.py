"""Usage records and the append-only double-entry ledger of commissions."""
