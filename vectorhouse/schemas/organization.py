"""Projects and project API keys in OpenAI's organization shapes, and the bodies that make them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ProjectObject(BaseModel):
    id: str
    object: Literal["organization.project"] = "organization.project"
    name: str
    created_at: int
    archived_at: int | None = None
    status: Literal["active", "archived"] = "active"


class ServiceAccount(BaseModel):
    object: Literal["organization.project.service_account"] = "organization.project.service_account"
    id: str
    name: str
    role: Literal["owner", "member"]
    created_at: int


class KeyOwner(BaseModel):
    # A vectorhouse key is its own service account: there are no users.
    type: Literal["service_account"] = "service_account"
    service_account: ServiceAccount


class ApiKeyObject(BaseModel):
    object: Literal["organization.project.api_key"] = "organization.project.api_key"
    id: str
    name: str
    redacted_value: str
    created_at: int
    last_used_at: int | None
    owner: KeyOwner
    # Only in the answer that made the key: the secret, shown once.
    value: str | None = None

    @classmethod
    def of(cls, row: Any, value: str | None = None) -> ApiKeyObject:
        account = ServiceAccount(id=row.id, name=row.name, role="owner" if row.admin else "member",
                                 created_at=row.created_at)
        return cls(id=row.id, name=row.name, redacted_value=row.redacted_value, created_at=row.created_at,
                   last_used_at=row.last_used_at, owner=KeyOwner(service_account=account), value=value)


class ApiKeyDeleted(BaseModel):
    object: Literal["organization.project.api_key.deleted"] = "organization.project.api_key.deleted"
    id: str
    deleted: bool = True


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProjectCreate(_Strict):
    name: str = Field(min_length=1, max_length=256)


class ApiKeyCreate(_Strict):
    name: str = Field(default="", max_length=256)
    # An admin key may also manage projects and keys over HTTP.
    admin: bool = False
