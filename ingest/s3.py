"""A boto3 S3 client for the configured endpoint: moto locally, MinIO in docker-compose, or AWS.

Path-style addressing, because neither an IP endpoint nor a single-host MinIO resolves
`bucket.host` names. Checksums only when the operation requires them: botocore's default
(a CRC32 on every request) is not accepted by every S3-compatible server.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from ingest.settings import Settings


def client(settings: Settings, **config: Any) -> Any:
    """An S3 client for settings' endpoint and keys; `config` overrides botocore.Config options."""
    options: dict[str, Any] = {
        "s3": {"addressing_style": "path"},
        "signature_version": "s3v4",
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
        **config,
    }
    return boto3.client(
        "s3",
        endpoint_url=settings["DWH_S3_ENDPOINT"],
        region_name=settings["DWH_S3_REGION"],
        aws_access_key_id=settings["DWH_S3_ACCESS_KEY"],
        aws_secret_access_key=settings["DWH_S3_SECRET_KEY"],
        config=Config(**options),
    )


def ensure_bucket(settings: Settings, s3: Any | None = None) -> bool:
    """Create settings' bucket unless it exists; True if it was created. Safe to repeat."""
    s3 = s3 or client(settings)
    bucket, region = settings["DWH_S3_BUCKET"], settings["DWH_S3_REGION"]
    try:
        s3.head_bucket(Bucket=bucket)
        return False
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
            raise
    # us-east-1 is the one region S3 refuses as an explicit LocationConstraint.
    where = {"LocationConstraint": region}
    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration=where)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise
        return False
    return True


def day_prefix(day: date, settings: Settings) -> str:
    """A day's folder in the bucket: `<DWH_S3_PREFIX>/<YYYY-MM-DD>/` (the sales layout)."""
    prefix = settings["DWH_S3_PREFIX"].strip("/")
    return f"{prefix}/{day.isoformat()}/" if prefix else f"{day.isoformat()}/"
