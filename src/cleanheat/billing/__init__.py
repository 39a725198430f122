"""Heat metering and billing (计热收费): meter protocols (CJ/T 188, M-Bus), register validation, tariffs as dated
data, the settlement rules of the two-part heat tariff (两部制热价), and billing runs.

Pure cores (no store, web or CLI): ``cjt188``, ``mbus``, ``validation``, ``settlement`` (Decimal, per customer) and
``fen`` (the same amounts over arrays in integer fen). ``concentrator`` reads meters over TCP (asyncio) with the
``cjt188`` codec. ``tables`` holds the accounts, reads, runs, statements and payments; ``service`` the use cases
(runs, approval, notes, payments, the reconciliation and what the pages show).
"""
