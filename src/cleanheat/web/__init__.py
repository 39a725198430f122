"""FastAPI web app: server-rendered pages (Jinja2 + HTMX + ECharts) and a JSON API under /api."""
