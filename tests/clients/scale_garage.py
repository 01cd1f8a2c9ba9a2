"""Scale-out on real engines (issue 13; crates/service/tests/scale_garage.rs): a 3-node
Garage cluster, PostgreSQL, two API servers and three workers. The Rust side starts the
processes and disturbs them; this script is the users: boto3 uploads to Garage, the
tencentcloud SDK's CommonClient against both API servers.

  scale_garage.py CFG rules          ImageUrl rules against the S3 store (no workers needed)
  scale_garage.py CFG replaced OUT   an import whose object is replaced before a worker reads it
  scale_garage.py CFG submit N OUT   N imports spread over both API servers → OUT (JSON)
  scale_garage.py CFG wait FILE...   wait for them, then check every verdict, the messages,
                                     the stored objects, no multipart upload left behind
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import boto3
from botocore.config import Config

from api_common import Env

cfg = json.load(open(sys.argv[1]))
cmd = sys.argv[2]
REGION = "ap-guangzhou"
EXPECTED = {"good": None, "nocloud": "CloudInitNotInstalled", "datadisk": "RootPartitionNotFound",
            "gpt": "PartitionNotPresent", "gzip": "InvalidFormatSize"}


def step(s):
    print(f"== {s}", flush=True)


# One client per API server (api_common's: the SDK's CommonClient, TC3-signed).
envs = {api: Env({"api": api, "storage": "", "secret_id": cfg["secret_id"], "secret_key": cfg["secret_key"],
                  "app_id": "", "data": "", "imgport": "", "region": REGION}) for api in cfg["apis"]}


def call(api, action, params):
    return envs[api].call(action, params)


def expect_error(api, code, action, params):
    return envs[api].expect_error(code, action, params)


s3 = boto3.client("s3", endpoint_url=cfg["s3_endpoint"], region_name="garage",
                  aws_access_key_id=cfg["key_id"], aws_secret_access_key=cfg["key_secret"],
                  config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
counter = [0]


def presign(bucket, key):
    # A distinct validity per link: two links of the same second are otherwise identical.
    counter[0] += 1
    return s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                     ExpiresIn=3600 + counter[0] + int(time.time() * 1000) % 100000)


def import_params(url, name):
    return {"ImageUrl": url, "ImageName": name, "OsType": "CentOS", "OsVersion": "7",
            "Architecture": "x86_64"}


def upload_all():
    for name, path in cfg["images"].items():
        s3.upload_file(path, "user-gz", f"{name}.img")


if cmd == "rules":
    a = cfg["apis"][0]
    upload_all()
    s3.upload_file(cfg["images"]["good"], "user-sh", "good.img")
    step("a link of the store: DryRun gives the check's verdict, through either API server")
    for api in cfg["apis"]:
        r = call(api, "ImportImage", {"ImageUrl": presign("user-gz", "good.img"), "ImageName": "dry", "DryRun": True})
        assert r["Importable"] is True and r["Detected"]["OsType"] == "CentOS", r
    step("InvalidUrl: other hosts, unknown buckets, missing objects, unsigned private objects")
    good = presign("user-gz", "good.img")
    port = cfg["s3_endpoint"].rsplit(":", 1)[1]
    for bad, why in [
        (good.replace("127.0.0.1", "localhost"), "not a link"),
        (good.replace(f":{port}/", f":{int(port) + 1}/"), "not a link"),
        ("https://example.com/user-gz/good.img", "not a link"),
        (presign("imgport-images", "x.qcow2"), "not one this service imports from"),
        (presign("user-gz", "missing.img"), "no object"),
        (f"{cfg['s3_endpoint']}/user-gz/good.img", "not public-read"),
        (good.replace("X-Amz-Signature=", "X-Amz-Signature=0"), "refused the link"),
    ]:
        m = expect_error(a, "InvalidUrl", "ImportImage", import_params(bad, "bad"))
        assert why in m, (bad, m)
    step("R-REGION: a bucket of ap-shanghai cannot be imported in ap-guangzhou")
    m = expect_error(a, "InvalidUrl", "ImportImage", import_params(presign("user-sh", "good.img"), "sh"))
    assert "ap-shanghai" in m and "R-REGION" in m, m
    step("a signed link imports once, across API servers")
    url = presign("user-gz", "good.img")
    first = call(cfg["apis"][0], "ImportImage", import_params(url, "once"))["ImageId"]
    m = expect_error(cfg["apis"][1], "InvalidUrl", "ImportImage", import_params(url, "once-again"))
    assert "already used" in m, m
    json.dump({first: None}, open(sys.argv[3], "w"))
    print("rules ok")

elif cmd == "replaced":
    step("an object replaced after ImportImage: the job reads nothing else (ETag pin) and says so")
    s3.upload_file(cfg["images"]["good"], "user-gz", "replaced.img")
    iid = call(cfg["apis"][1], "ImportImage", import_params(presign("user-gz", "replaced.img"), "replaced"))["ImageId"]
    s3.upload_file(cfg["images"]["nocloud"], "user-gz", "replaced.img")
    json.dump({iid: "InvalidUrl"}, open(sys.argv[3], "w"))
    print("replaced ok")

elif cmd == "big":
    step("a larger import (its conversion uploads parts before it ends)")
    s3.upload_file(cfg["big"], "user-gz", "big.img")
    iid = call(cfg["apis"][0], "ImportImage", import_params(presign("user-gz", "big.img"), "big"))["ImageId"]
    json.dump({iid: None}, open(sys.argv[3], "w"))
    print(f"big {iid}")

elif cmd == "submit":
    n, out = int(sys.argv[3]), sys.argv[4]
    upload_all()
    names = list(cfg["images"])
    ids = {}
    for i in range(n):
        name = names[i % len(names)]
        api = cfg["apis"][i % len(cfg["apis"])]
        r = call(api, "ImportImage", import_params(presign("user-gz", f"{name}.img"), f"batch-{i}-{name}"))
        ids[r["ImageId"]] = EXPECTED[name]
    json.dump(ids, open(out, "w"))
    print(f"submitted {n}")

elif cmd == "wait":
    expected = {}
    for f in sys.argv[3:]:
        expected.update(json.load(open(f)))
    ids = sorted(expected)
    step(f"waiting for {len(ids)} imports")
    deadline = time.time() + float(os.environ.get("SCALE_WAIT_SECS", "600"))
    while True:
        got = {}
        for i in range(0, len(ids), 100):
            api = cfg["apis"][(i // 100) % 2]
            r = call(api, "DescribeImages", {"ImageIds": ids[i:i + 100], "Limit": 100})
            got.update({x["ImageId"]: x for x in r["ImageSet"]})
        assert set(got) == set(ids), set(ids) - set(got)
        busy = {k: (v["ImportPhase"], v["ImportProgress"]) for k, v in got.items() if v["ImageState"] == "IMPORTING"}
        if not busy:
            break
        assert time.time() < deadline, busy
        time.sleep(1)
    step("every import ended as its image deserves")
    for iid, code in expected.items():
        img = got[iid]
        if code is None:
            assert img["ImageState"] == "NORMAL", img
        else:
            assert img["ImageState"] == "IMPORTFAILED" and img["ErrorCode"] == code, (code, img)
    replaced = [i for i, c in expected.items() if c == "InvalidUrl"]
    for iid in replaced:
        assert "replaced after the import was requested" in got[iid]["ErrorMessage"], got[iid]
    step("exactly one message per import")
    seen = {}
    offset = 0
    while True:
        m = call(cfg["apis"][0], "DescribeMessages", {"Limit": 100, "Offset": offset})
        for x in m["MessageSet"]:
            seen[x["ImageId"]] = seen.get(x["ImageId"], 0) + 1
        offset += len(m["MessageSet"])
        if offset >= m["TotalCount"] or not m["MessageSet"]:
            break
    for iid in ids:
        assert seen.get(iid) == 1, (iid, seen.get(iid), got[iid].get("ImportTimings"))
    step("the images bucket holds exactly the NORMAL images; no multipart upload is left")
    normal = {i for i in ids if got[i]["ImageState"] == "NORMAL"}
    keys = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="imgport-images", Prefix="imgport/images/"):
        keys |= {o["Key"] for o in page.get("Contents", [])}
    assert keys == {f"imgport/images/{i}.qcow2" for i in normal}, (sorted(keys), sorted(normal))
    uploads = s3.list_multipart_uploads(Bucket="imgport-images").get("Uploads", [])
    assert uploads == [], uploads
    step("the same object imported again is copied, not converted; every copy is sound (qemu-img)")
    goods = sorted(i for i in normal if got[i]["ImageName"] not in ("replaced", "big"))
    converted = lambda i: max(t["Bytes"] for t in got[i]["ImportTimings"] if t["Phase"] == "convert")
    copies = [i for i in goods if converted(i) == 0]
    assert copies and len(copies) < len(goods), [(i, converted(i)) for i in goods]
    with tempfile.TemporaryDirectory() as d:
        for good in goods:
            p = os.path.join(d, f"{good}.qcow2")
            s3.download_file("imgport-images", f"imgport/images/{good}.qcow2", p)
            subprocess.run(["qemu-img", "check", p], check=True, capture_output=True)
            subprocess.run(["qemu-img", "compare", cfg["images"]["good"], p], check=True, capture_output=True)
            os.remove(p)
        for big in (i for i in normal if got[i]["ImageName"] == "big"):
            p = os.path.join(d, "big.qcow2")
            s3.download_file("imgport-images", f"imgport/images/{big}.qcow2", p)
            subprocess.run(["qemu-img", "check", p], check=True, capture_output=True)
            subprocess.run(["qemu-img", "compare", cfg["big"], p], check=True, capture_output=True)
            os.remove(p)
    retaken = {i: [t["Phase"] for t in got[i]["ImportTimings"] if t["Attempt"] > 1]
               for i in ids if any(t["Attempt"] > 1 for t in got[i].get("ImportTimings", []))}
    print(json.dumps({"done": len(ids), "normal": len(normal), "copies": len(copies), "retaken": retaken}))

else:
    sys.exit(f"unknown command {cmd}")
