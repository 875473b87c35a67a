"""The roles of the shop and what each may do; the server checks these on every request."""

from __future__ import annotations

from sqlmodel import Session, select

from shop.models import Role

# What any signed-in buyer may do with their own purchases. Staff hold it too: the owner and
# support buy from the shop with their own accounts (a test purchase, a gift) like anyone.
OWN_PURCHASES = ["orders:read_own", "downloads:read_own", "subscriptions:manage_own"]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    "admin": [
        *OWN_PURCHASES,
        "catalog:read",
        "catalog:write",
        "orders:read_all",
        "orders:write",
        "refunds:create",
        "refunds:unlimited",
        "customers:read",
        "customers:write",
        "promo_codes:write",
        "analytics:read",
        "audit:read",
        "users:manage",
        "settings:write",
        "payments:reconcile",
    ],
    "support": [
        *OWN_PURCHASES,
        "catalog:read",
        "orders:read_all",
        "orders:write",
        "refunds:create",
        "customers:read",
    ],
    "customer": OWN_PURCHASES,
}


def ensure_roles(*, session: Session) -> dict[str, Role]:
    """Create the built-in roles, or bring their permission lists up to date."""
    existing = {role.name: role for role in session.exec(select(Role)).all()}
    for name, permissions in ROLE_PERMISSIONS.items():
        role = existing.get(name)
        if role is None:
            role = existing[name] = Role(name=name, permissions=list(permissions))
        elif sorted(role.permissions) != sorted(permissions):
            role.permissions = list(permissions)
        session.add(role)
    session.flush()
    return existing
