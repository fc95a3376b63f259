"""The S3 endpoint: moto's real server, reached with boto3, with objects that outlive it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from ingest import s3
from ingest.stack.process import pid_alive, port_is_free
from ingest.stack.s3 import S3


def _listening_hosts(port: int) -> set[str]:
    """Addresses with a listening TCP socket on `port`, from /proc (IPv4 and IPv6)."""
    hosts = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                hosts.add("127.0.0.1" if address == "0100007F" else address)
    return hosts


def _group_members(pgid: int) -> list[int]:
    """Live processes in a process group: the server and anything it may have spawned."""
    members = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, pgrp
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def test_bucket_exists_on_loopback(dwh):
    service = S3(dwh)
    s3.client(dwh).head_bucket(Bucket=dwh["DWH_S3_BUCKET"])
    assert _listening_hosts(dwh.s3_port) == {"127.0.0.1"}
    assert service.describe() == f"http://127.0.0.1:{dwh.s3_port} bucket {dwh['DWH_S3_BUCKET']}"
    assert service.healthy()


def test_put_get_round_trip(dwh):
    client, bucket = s3.client(dwh), dwh["DWH_S3_BUCKET"]
    key = "round-trip/Цимлянск 1+1=2%.csv"
    body = "id,city\n1,Цимлянск\n".encode()
    client.put_object(
        Bucket=bucket, Key=key, Body=body, ContentType="text/csv", Metadata={"batch": "7"}
    )
    got = client.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == body
    assert (got["ContentType"], got["Metadata"]) == ("text/csv", {"batch": "7"})


def test_list_under_prefix_paginates(dwh):
    client, bucket = s3.client(dwh), dwh["DWH_S3_BUCKET"]
    keys = [f"paged/part-{n:02d}.json" for n in range(7)]
    for key in [*keys, "paged-not/x.json", "other/y.json"]:
        client.put_object(Bucket=bucket, Key=key, Body=b"{}")
    pages = list(
        client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix="paged/", PaginationConfig={"PageSize": 3}
        )
    )
    assert [page["KeyCount"] for page in pages] == [3, 3, 1]
    assert [item["Key"] for page in pages for item in page["Contents"]] == keys


def test_data_survives_restart(dwh):
    client, bucket = s3.client(dwh), dwh["DWH_S3_BUCKET"]
    client.put_object(Bucket=bucket, Key="survivor/kept.txt", Body=b"kept")
    client.put_object(Bucket=bucket, Key="survivor/deleted.txt", Body=b"deleted")
    client.delete_object(Bucket=bucket, Key="survivor/deleted.txt")
    service = S3(dwh)
    pid = service.pid()
    assert pid is not None and service.stop()
    # SIGTERM ended the whole process group: nothing of it runs and the port is free again.
    assert not pid_alive(pid) and _group_members(pid) == []
    assert service.pid() is None and port_is_free(dwh.s3_port)
    assert service.start()
    listed = client.list_objects_v2(Bucket=bucket, Prefix="survivor/")
    assert [item["Key"] for item in listed["Contents"]] == ["survivor/kept.txt"]
    assert client.get_object(Bucket=bucket, Key="survivor/kept.txt")["Body"].read() == b"kept"


def test_objects_are_on_disk_before_the_answer(dwh):
    """Even SIGKILL, which allows no last save, loses no acknowledged write."""
    client, bucket = s3.client(dwh), dwh["DWH_S3_BUCKET"]
    client.put_object(Bucket=bucket, Key="crash/acknowledged.txt", Body=b"on disk")
    service = S3(dwh)
    pid = service.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.start()
    got = client.get_object(Bucket=bucket, Key="crash/acknowledged.txt")
    assert got["Body"].read() == b"on disk"
