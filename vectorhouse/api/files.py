"""Routes of /files: upload (multipart), list, retrieve, delete, content."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from vectorhouse.api.deps import VH, Project
from vectorhouse.errors import InvalidRequest, PayloadTooLarge
from vectorhouse.schemas.objects import CursorPage, FileDeleted, FileObject
from vectorhouse.service.pagination import PageRequest

router = APIRouter(tags=["files"])

# Multipart framing around the file part; a body this much larger than the limit is refused unread.
_MULTIPART_SLACK = 64 * 1024


@router.post("/files", response_model=FileObject)
async def create_file(request: Request, vh: VH, project: Project) -> FileObject:
    declared = request.headers.get("content-length")
    limit = vh.settings.max_upload_bytes
    if declared and declared.isdigit() and int(declared) > limit + _MULTIPART_SLACK:
        raise PayloadTooLarge(f"file is larger than the maximum upload size of {limit} bytes", param="file")
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise InvalidRequest("POST /files takes multipart/form-data with 'file' and 'purpose'", param="file")
    async with request.form() as form:
        upload = form.get("file")
        purpose = form.get("purpose")
        if not isinstance(upload, UploadFile):
            raise InvalidRequest("Missing required parameter: 'file' (a file part).", param="file")
        if not isinstance(purpose, str) or not purpose:
            raise InvalidRequest("Missing required parameter: 'purpose'.", param="purpose")
        expires_after = None
        anchor, seconds = form.get("expires_after[anchor]"), form.get("expires_after[seconds]")
        if anchor is not None or seconds is not None:
            try:
                seconds_value = int(seconds) if isinstance(seconds, str) else None
            except ValueError:
                seconds_value = None
            expires_after = {"anchor": anchor, "seconds": seconds_value}
        filename = upload.filename or "upload"
        return await run_in_threadpool(vh.files.create, project, upload.file, filename, purpose, expires_after)


@router.get("/files", response_model=CursorPage[FileObject])
def list_files(
    vh: VH,
    project: Project,
    purpose: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 10000,
    order: Literal["asc", "desc"] = "desc",
    after: str | None = None,
) -> CursorPage[FileObject]:
    return vh.files.list(project, purpose, PageRequest(limit=limit, order=order, after=after))


@router.get("/files/{file_id}", response_model=FileObject)
def retrieve_file(file_id: str, vh: VH, project: Project) -> FileObject:
    return vh.files.get(project, file_id)


@router.delete("/files/{file_id}", response_model=FileDeleted)
def delete_file(file_id: str, vh: VH, project: Project) -> FileDeleted:
    return vh.files.delete(project, file_id)


@router.get("/files/{file_id}/content", response_class=FileResponse)
def file_content(file_id: str, vh: VH, project: Project) -> FileResponse:
    filename, path = vh.files.blob_path(project, file_id)
    return FileResponse(path, media_type="application/octet-stream", filename=filename)
