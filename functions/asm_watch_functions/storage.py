"""The results bucket: manifests, per-tile results and scan summaries as S3 objects.

Keys mirror the local results folder (``results/detections/dt=…/utm_zone=…/ITEM.parquet``), so
Athena's Glue tables and ``asm query`` read the same layout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

#: S3 refuses a conditional write whose condition fails (412), or that races another
#: conditional write of the same key (409)
LOST_RACE = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")


def error_code(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


class Bucket:
    """One S3 bucket, addressed by key."""

    def __init__(self, name: str, client: Any | None = None) -> None:
        self.name = name
        self.client = client or boto3.client("s3")

    def put_json(self, key: str, value: Any) -> None:
        body = json.dumps(value, separators=(",", ":"), default=str).encode()
        self.client.put_object(Bucket=self.name, Key=key, Body=body, ContentType="application/json")

    def put_json_if(self, key: str, value: Any, **condition: str) -> str | None:
        """Write ``value`` only if the condition (``IfNoneMatch="*"``, ``IfMatch=etag``)
        holds: its ETag, or None if another writer got there first."""
        try:
            answer = self.client.put_object(
                Bucket=self.name,
                Key=key,
                Body=json.dumps(value).encode(),
                ContentType="application/json",
                **condition,
            )
        except ClientError as e:
            if error_code(e) in LOST_RACE:
                return None
            raise
        return str(answer["ETag"])

    def _get(self, key: str) -> tuple[bytes, str] | None:
        """An object's bytes and ETag; None if there is no such object."""
        try:
            answer = self.client.get_object(Bucket=self.name, Key=key)
        except ClientError as e:
            if error_code(e) in ("NoSuchKey", "404"):
                return None
            raise
        return answer["Body"].read(), str(answer["ETag"])

    def get_json_with_etag(self, key: str) -> tuple[Any, str] | None:
        """An object's JSON and its ETag; None if there is no such object."""
        got = self._get(key)
        return None if got is None else (json.loads(got[0]), got[1])

    def get_json(self, key: str) -> Any:
        return json.loads(self.client.get_object(Bucket=self.name, Key=key)["Body"].read())

    def upload_tree(self, root: Path, prefix: str) -> list[str]:
        """Upload every file under ``root`` to ``prefix/<relative path>``; return the keys."""
        keys = []
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            key = f"{prefix}/{path.relative_to(root).as_posix()}"
            self.client.upload_file(str(path), self.name, key)
            keys.append(key)
        return keys

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.name, Key=key)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def objects(self, prefix: str) -> dict[str, str]:
        """Every key under ``prefix``, in key order, with its ETag."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=prefix
        )
        return {obj["Key"]: str(obj["ETag"]) for page in pages for obj in page.get("Contents", [])}

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix``, in key order."""
        return list(self.objects(prefix))

    def download(self, key: str, path: Path) -> bool:
        """Fetch one object to ``path``; False if it does not exist."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.client.download_file(self.name, key, str(path))
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                return False
            raise
        return True

    def download_with_etag(self, key: str, path: Path) -> str | None:
        """Fetch one (small) object to ``path`` and return the ETag of what was fetched; None
        if it does not exist."""
        got = self._get(key)
        if got is None:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(got[0])
        return got[1]

    def upload_if(self, path: Path, key: str, **condition: str) -> bool:
        """Upload a file only if the condition (``IfNoneMatch="*"``, ``IfMatch=etag``) holds;
        False if another writer changed the key first."""
        try:
            self.client.put_object(Bucket=self.name, Key=key, Body=path.read_bytes(), **condition)
        except ClientError as e:
            if error_code(e) in LOST_RACE:
                return False
            raise
        return True

    def delete_if_unchanged(self, key: str, etag: str) -> bool:
        """Delete an object only if it is still the version with ``etag`` (S3's conditional
        delete); False if it was rewritten since, or is gone."""
        try:
            self.client.delete_object(Bucket=self.name, Key=key, IfMatch=etag)
        except ClientError as e:
            if error_code(e) in (*LOST_RACE, "NoSuchKey", "404"):
                return False
            raise
        return True
