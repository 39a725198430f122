"""Clean-heating option planner: option catalogue, per-area appraisal, city pathway optimisation (HiGHS).

Pure core (no I/O): ``catalogue`` (dataclasses), ``demand`` (heat demand and heat-pump COP from hourly weather),
``appraisal`` (levelised cost, household cost, emissions, Pareto front), ``pathway`` (LP model → arrays → HiGHS →
immutable :class:`~cleanheat.planner.pathway.PathwayResult`). Adapters: ``read_catalogue``, ``read_areas``,
``parse_scenario`` (files with located errors), ``report`` (XLSX/PDF), ``tables``/``service`` (the store).
"""
