"""Online emissions monitoring of heat sources (HJ 212 receiver, limits, compliance, link to the ledger)."""
