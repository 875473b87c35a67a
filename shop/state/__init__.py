"""Reflex states shared by pages."""
