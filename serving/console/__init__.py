"""The operators' console: a static page under /console and its admin JSON (/v1/admin/console)."""
