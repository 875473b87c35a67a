"""Storefront pages: one module per page, each with its own substate."""
