"""People and what they may do."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from shop.models.base import created_at_field, updated_at_field


class User(SQLModel, table=True):
    """A customer, the owner or a support agent; email is stored lower-cased."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True, index=True)
    name: str | None = Field(default=None, max_length=200)
    hashed_password: str | None = Field(default=None, max_length=255)
    stripe_customer_id: str | None = Field(default=None, max_length=255, unique=True, index=True)
    email_verified: bool = False
    is_active: bool = True
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class Role(SQLModel, table=True):
    """A named set of permissions (admin, support, customer)."""

    __tablename__ = "roles"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=50, unique=True)
    permissions: list[str] = Field(default_factory=list, sa_type=JSON)
    created_at: datetime = created_at_field()


class UserRole(SQLModel, table=True):
    """Grants a role to a user."""

    __tablename__ = "user_roles"

    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    role_id: int = Field(foreign_key="roles.id", primary_key=True, index=True, ondelete="CASCADE")
    created_at: datetime = created_at_field()
