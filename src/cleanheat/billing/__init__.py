"""Heat metering and billing (计热收费): meter protocols (CJ/T 188, M-Bus), register validation, tariffs as dated
data, and the settlement rules of the two-part heat tariff (两部制热价).

Pure cores (no store, web or CLI): ``cjt188``, ``mbus``, ``validation``, ``settlement``. ``concentrator`` reads
meters over TCP (asyncio) with the ``cjt188`` codec.
"""
