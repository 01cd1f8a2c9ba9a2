"""ImportImage's per-request boot test (issue 17, R-BOOT) with the real clients: boto3
uploads, tencentcloud-sdk-python's CommonClient imports and describes. The server's
`boot_test_default` is off and its QEMU a stand-in (crates/service/tests/api_boot_test.rs).

- `BootTest: true` → the image is booted; NORMAL with DescribeImages' `BootTest`
  (outcome, reason, time, accelerator, serial lines) and the boot in the message;
- no `BootTest` → not booted, `BootTest` is null;
- `DryRun` with `BootTest: true` → InvalidParameterValue (a DryRun converts nothing).

usage: api_boot_test.py SERVER_JSON IMAGE
"""
import json
import sys
import time

from api_common import Env

env = Env(json.loads(sys.argv[1]))
path = sys.argv[2]
s3 = env.s3()
bucket = f"boot-{env.app_id}"
s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": env.region})
form = {"OsType": "CentOS", "OsVersion": "7", "Architecture": "x86_64"}

url = env.upload(s3, bucket, "dry.qcow2", path)
msg = env.expect_error("InvalidParameterValue", "ImportImage",
                       {"ImageUrl": url, "ImageName": "dry", "DryRun": True, "BootTest": True, **form})
assert "BootTest" in msg and "imgport check --boot" in msg, msg

url = env.upload(s3, bucket, "booted.qcow2", path)
booted = env.call("ImportImage", {"ImageUrl": url, "ImageName": "booted", "BootTest": True, **form})["ImageId"]
time.sleep(1.1)  # identical state-changing calls within a second are refused (replay cache)
url = env.upload(s3, bucket, "plain.qcow2", path)
plain = env.call("ImportImage", {"ImageUrl": url, "ImageName": "plain", **form})["ImageId"]

got = env.wait_images([booted, plain])
b = got[booted]
assert b["ImageState"] == "NORMAL", b
bt = b["BootTest"]
assert bt["Requested"] is True and bt["Outcome"] == "booted", bt
assert "marker" in bt["Reason"], bt
assert bt["Accelerator"] in ("kvm", "tcg") and bt["ElapsedMs"] >= 0 and bt["TimeoutSecs"] == 120, bt
assert 60 <= len(bt["SerialTail"]) <= 60, len(bt["SerialTail"])
assert any("imgport-boot-ok-" in l for l in bt["SerialTail"]), bt["SerialTail"][-3:]
assert [t for t in b["ImportTimings"] if t["Phase"] == "boot"], b["ImportTimings"]
p = got[plain]
assert p["ImageState"] == "NORMAL" and p["BootTest"] is None, p

msgs = {m["ImageId"]: m for m in env.call("DescribeMessages", {"Limit": 100})["MessageSet"]}
body = msgs[booted]["Content"]
assert "Boot test (R-BOOT): booted after" in body, body
assert "Boot test" not in msgs[plain]["Content"], msgs[plain]["Content"]
print(json.dumps({"booted": booted, "plain": plain}))
