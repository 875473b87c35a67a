"""Every table of the shop; importing this package registers them on SQLModel.metadata."""

from shop.models.accounts import Role, User, UserRole
from shop.models.base import utcnow
from shop.models.catalog import BillingInterval, Category, Product, ProductFile, ProductKind
from shop.models.orders import Order, OrderItem, OrderStatus, Subscription

__all__ = [
    "BillingInterval",
    "Category",
    "Order",
    "OrderItem",
    "OrderStatus",
    "Product",
    "ProductFile",
    "ProductKind",
    "Role",
    "Subscription",
    "User",
    "UserRole",
    "utcnow",
]
