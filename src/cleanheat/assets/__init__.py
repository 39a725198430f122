"""The asset registry: heat sources (boilers, CHP units) with their status over time; later networks, stations,
buildings, households, devices and measurement points."""
