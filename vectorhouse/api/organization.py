"""Routes of /organization/projects and their api_keys: manage projects and keys with an admin key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from vectorhouse.api.deps import VH, Auth
from vectorhouse.errors import PermissionDenied
from vectorhouse.schemas.objects import CursorPage
from vectorhouse.schemas.organization import (
    ApiKeyCreate,
    ApiKeyDeleted,
    ApiKeyObject,
    ProjectCreate,
    ProjectObject,
)
from vectorhouse.service.keys import Caller


async def admin_only(caller: Auth) -> Caller:
    if not caller.admin:
        raise PermissionDenied("managing projects and API keys takes an admin key (`vectorhouse keys create "
                               "--admin`)")
    return caller


router = APIRouter(tags=["organization"], dependencies=[Depends(admin_only)])
BASE = "/organization/projects"


def _project(row: Any) -> ProjectObject:
    return ProjectObject(id=row.id, name=row.name, created_at=row.created_at)


@router.get(BASE, response_model=CursorPage[ProjectObject])
def list_projects(vh: VH) -> CursorPage[ProjectObject]:
    return CursorPage[ProjectObject].of([_project(r) for r in vh.keys.list_projects()], False)


@router.post(BASE, response_model=ProjectObject)
def create_project(body: ProjectCreate, vh: VH) -> ProjectObject:
    return _project(vh.keys.ensure_project(body.name))


@router.get(BASE + "/{project}", response_model=ProjectObject)
def retrieve_project(project: str, vh: VH) -> ProjectObject:
    return _project(vh.keys.project(project))


@router.get(BASE + "/{project}/api_keys", response_model=CursorPage[ApiKeyObject])
def list_api_keys(project: str, vh: VH) -> CursorPage[ApiKeyObject]:
    return CursorPage[ApiKeyObject].of([ApiKeyObject.of(r) for r in vh.keys.list(project)], False)


@router.post(BASE + "/{project}/api_keys", response_model=ApiKeyObject)
def create_api_key(project: str, body: ApiKeyCreate, vh: VH) -> ApiKeyObject:
    """Not in OpenAI's API (it makes keys through service accounts): the answer carries the secret once."""
    new = vh.keys.create(vh.keys.project(project).name, body.name, body.admin)
    return ApiKeyObject.of(new.row, new.secret)


@router.get(BASE + "/{project}/api_keys/{key_id}", response_model=ApiKeyObject)
def retrieve_api_key(project: str, key_id: str, vh: VH) -> ApiKeyObject:
    return ApiKeyObject.of(vh.keys.get(key_id, project))


@router.delete(BASE + "/{project}/api_keys/{key_id}", response_model=ApiKeyDeleted)
def delete_api_key(project: str, key_id: str, vh: VH) -> ApiKeyDeleted:
    row = vh.keys.get(key_id, project)
    vh.keys.revoke(row.id)
    return ApiKeyDeleted(id=row.id)
