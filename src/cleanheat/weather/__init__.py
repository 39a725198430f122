"""Weather data: reading EnergyPlus EPW files (Harbin's typical year) and climate constants as dated data."""
