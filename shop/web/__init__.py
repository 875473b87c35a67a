"""ASGI wrappers around the Reflex app: security headers, crawlable product pages."""
