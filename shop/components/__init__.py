"""Reusable UI pieces of the storefront."""
