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
from shop.models.downloads import DownloadCompletion
from shop.models.orders import Order, OrderItem, OrderStatus, Subscription
from shop.models.refunds import ReconciliationRun, Refund, RefundStatus

__all__ = [
    "AccountToken",
    "AuditChainHead",
    "AuditLog",
    "BillingInterval",
    "Cart",
    "CartItem",
    "Category",
    "DownloadCompletion",
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
    "ReconciliationRun",
    "Refund",
    "RefundStatus",
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
