"""Users, organisations, roles, password hashing, API tokens and the audit log."""
