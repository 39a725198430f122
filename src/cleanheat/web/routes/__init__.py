"""One module per area. Each exposes ``router`` (an APIRouter) and may expose ``NAV``."""
