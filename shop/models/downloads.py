"""Downloads: one row per signed link that has counted a download of its grant."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from shop.models.base import created_at_field


class DownloadCompletion(SQLModel, table=True):
    """A signed link that has counted a download (who and when: the first one); unique (grant,
    link) so that a resume through the same link is not counted twice. A whole file sent again
    through the link counts again without a new row (rules: shop.services.downloads)."""

    __tablename__ = "download_completions"
    __table_args__ = (UniqueConstraint("grant_id", "link_id"),)

    id: int | None = Field(default=None, primary_key=True)
    grant_id: int = Field(foreign_key="download_grants.id", index=True, ondelete="CASCADE")
    # The random id carried by the signed link (not a secret: the signature is).
    link_id: str = Field(max_length=32)
    user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    ip: str | None = Field(default=None, max_length=45)
    # "file" when the shop served the last byte, "redirect" when it sent the client to S3.
    via: str = Field(default="file", max_length=10)
    completed_at: datetime = created_at_field()
