"""Plans, prices, the usage ledger, limits and invoices: turning served requests into money."""
