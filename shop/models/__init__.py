"""Every table of the shop; importing this package registers them on SQLModel.metadata."""

from shop.models.accounts import Role, User, UserRole
from shop.models.auth import (
    AccountToken,
    AuditChainHead,
    AuditLog,
    RefreshToken,
    SignInThrottle,
    TokenPurpose,
    UserSession,
)
from shop.models.base import utcnow
from shop.models.catalog import BillingInterval, Category, Product, ProductFile, ProductKind
from shop.models.checkout import (
    Cart,
    CartItem,
    DownloadGrant,
    OrderEmail,
    OrderTaxLine,
    PromoCode,
    PromoRedemption,
    WebhookEvent,
)
from shop.models.orders import Order, OrderItem, OrderStatus, Subscription

__all__ = [
    "AccountToken",
    "AuditChainHead",
    "AuditLog",
    "BillingInterval",
    "Cart",
    "CartItem",
    "Category",
    "DownloadGrant",
    "Order",
    "OrderEmail",
    "OrderItem",
    "OrderStatus",
    "OrderTaxLine",
    "Product",
    "ProductFile",
    "ProductKind",
    "PromoCode",
    "PromoRedemption",
    "RefreshToken",
    "Role",
    "SignInThrottle",
    "Subscription",
    "TokenPurpose",
    "User",
    "UserRole",
    "UserSession",
    "WebhookEvent",
    "utcnow",
]
