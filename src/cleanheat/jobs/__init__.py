"""Background work shared by processes: a job queue, periodic tasks and singleton services, coordinated
through the database so that any number of ``cleanheat worker`` processes (and web processes) share them, each
job and each periodic round done exactly once.

- ``tables``: ``jobs_queue`` (one row per job: kind, parameters, owner, state, progress, result),
  ``jobs_periodic`` (the next due time of each periodic task), ``jobs_leases`` (who runs a singleton service).
- ``queue``: submit, claim (PostgreSQL ``FOR UPDATE SKIP LOCKED``, then a compare-and-set on both stores),
  progress, finish, fail, re-queue jobs of a lost worker; the scoped reads for pages.
- ``coordination``: claim a periodic round (a conditional update of its due time) and hold a lease.
- ``registry``: the plug-in contract of ``cleanheat.<area>.background`` modules (``JOBS``, ``PERIODIC``,
  ``SERVICES``) and their discovery.
- ``worker``: the loop that runs them (in ``cleanheat worker`` or in a web process's thread).
"""
