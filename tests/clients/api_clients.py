"""The cloud API of `imgport serve` driven by the real clients (issue 7): tccli,
tencentcloud-sdk-python (CommonClient and the typed CvmClient), boto3 for uploads,
and a raw TC3 signer for the refusals. Run by crates/service/tests/api_clients.rs.

usage: api_clients.py SERVER_JSON IMAGES_JSON
"""
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest.mock

from api_common import Env, raw_post, step, tc3_headers, tccli
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.cvm.v20170312 import cvm_client, models

env = Env(json.loads(sys.argv[1]))
images = json.loads(sys.argv[2])
home = tempfile.mkdtemp(prefix="tccli-home-")

# ---- tccli, configured as the walkthrough says ----------------------------------------
step("tccli configure set … cvm.endpoint http://API; DescribeImportImageOs, DescribeImages")
tccli(env, home, "configure", "set", "secretId", env.sid, "secretKey", env.skey, "region", env.region)
tccli(env, home, "configure", "set", "cvm.endpoint", f"http://{env.api}")
r = tccli(env, home, "cvm", "DescribeImportImageOs")
assert "CentOS" in r["ImportImageOsListSupported"]["Linux"], r
assert any(v["OsName"] == "CentOS" and "7" in v["OsVersions"] for v in r["ImportImageOsVersionSet"]), r
assert tccli(env, home, "cvm", "DescribeImages")["TotalCount"] == 0
p = tccli(env, home, "cvm", "ImportImage", "--Architecture", "x86_64", "--OsType", "Plan9", "--OsVersion", "1",
          "--ImageName", "x", "--ImageUrl", f"http://{env.storage}/b/k", ok=False)
assert p.returncode != 0 and "InvalidImageOsType.Unsupported" in p.stdout + p.stderr, (p.stdout, p.stderr)

step("the typed SDK client parses DescribeImportImageOs")
cvm = cvm_client.CvmClient(credential.Credential(env.sid, env.skey), env.region, env.profile())
os_resp = cvm.DescribeImportImageOs(models.DescribeImportImageOsRequest())
assert "CentOS" in [o.OsName for o in os_resp.ImportImageOsVersionSet]

# ---- signatures and the common errors --------------------------------------------------
step("signatures: wrong key, unknown SecretId, expired timestamp (real SDK)")
env.expect_error("AuthFailure.SignatureFailure", "DescribeImages", {}, key="not-the-key")
env.expect_error("AuthFailure.SecretIdNotFound", "DescribeImages", {}, sid="AKIDnosuchkey0000000000000000000", key="k")
real_time = time.time
with unittest.mock.patch("time.time", lambda: real_time() - 600):
    env.expect_error("AuthFailure.SignatureExpire", "DescribeImages", {})

step("raw TC3 requests (the document's algorithm): accepted, then each refusal")
body = json.dumps({"Limit": 1}).encode()
status, ctype, r = raw_post(env, tc3_headers(env.sid, env.skey, env.api, "DescribeImages", body), body)
assert status == 200 and "application/json" in ctype and r["Response"]["TotalCount"] == 0, r


def refused(code, headers, body, contains=None):
    status, ctype, r = raw_post(env, headers, body)
    assert status == 200 and "application/json" in ctype, (status, ctype)
    err = r["Response"].get("Error")
    assert err and err["Code"] == code, f"expected {code}: {r}"
    assert len(r["Response"]["RequestId"]) == 36, r
    if contains:
        assert contains in err["Message"], err
    return err["Message"]


h = tc3_headers(env.sid, env.skey, env.api, "DescribeImages", body)
refused("AuthFailure.SignatureFailure", h, json.dumps({"Limit": 2}).encode())  # body changed after signing
refused("AuthFailure.SignatureFailure", tc3_headers(env.sid, env.skey, env.api, "DescribeImages", body, signed=("host",)), body,
        contains="content-type")
refused("AuthFailure.SignatureFailure",
        tc3_headers(env.sid, env.skey, env.api, "DescribeImages", body, scope_date="2001-01-01"), body)
refused("AuthFailure.SignatureFailure",
        tc3_headers(env.sid, env.skey, env.api, "DescribeImages", body, service="cbs"), body)
refused("AuthFailure.SignatureExpire",
        tc3_headers(env.sid, env.skey, env.api, "DescribeImages", body, timestamp=int(time.time()) + 3600), body)
no_auth = {k: v for k, v in h.items() if k != "Authorization"}
refused("AuthFailure.InvalidAuthorization", no_auth, body)
refused("AuthFailure.InvalidAuthorization", dict(h, Authorization="HMAC-SHA1 whatever"), body)
refused("NoSuchVersion", tc3_headers(env.sid, env.skey, env.api, "DescribeImages", body, version="2016-01-01"), body)
refused("InvalidRegion", tc3_headers(env.sid, env.skey, env.api, "DescribeImages", body, region="ap-nowhere"), body)
refused("MissingParameter", tc3_headers(env.sid, env.skey, env.api, "DescribeImages", body, region=None), body,
        contains="X-TC-Region")
refused("InvalidAction", tc3_headers(env.sid, env.skey, env.api, "RunInstances", body), body)
bogus = json.dumps({"Bogus": 1}).encode()
refused("UnknownParameter", tc3_headers(env.sid, env.skey, env.api, "DescribeImages", bogus), bogus, contains="Bogus")
notjson = b"Limit=1"
refused("InvalidParameter", tc3_headers(env.sid, env.skey, env.api, "DescribeImages", notjson), notjson)
big = b'{"Limit": 1, "Pad": "' + b"x" * ((1 << 20) + 1024) + b'"}'
refused("RequestSizeLimitExceeded", tc3_headers(env.sid, env.skey, env.api, "DescribeImages", big), big)
bad_type = json.dumps({"Limit": "many"}).encode()
refused("InvalidParameter", tc3_headers(env.sid, env.skey, env.api, "DescribeImages", bad_type), bad_type)

# ---- uploads -----------------------------------------------------------------------------
step("boto3: a bucket in the region, the synthetic images, presigned URLs")
s3 = env.s3()
bucket = f"images-{env.app_id}"
s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": env.region})
urls = {name: env.upload(s3, bucket, os.path.basename(path), path) for name, path in images.items()}
dry_url = env.upload(s3, bucket, "dry-nocloud.qcow2", images["nocloud"])

# ---- the form ----------------------------------------------------------------------------
form = {"Architecture": "x86_64", "OsType": "CentOS", "OsVersion": "7"}
step("form errors come before the URL is looked at")
env.expect_error("InvalidImageOsVersion.Unsupported", "ImportImage", {**form, "OsVersion": "99", "ImageName": "x", "ImageUrl": urls["good"]})
env.expect_error("InvalidImageArchitecture.Unsupported", "ImportImage", {**form, "Architecture": "arm64", "ImageName": "x", "ImageUrl": urls["good"]})
env.expect_error("MissingParameter", "ImportImage", {**form, "ImageUrl": urls["good"]})
env.expect_error("InvalidParameterValue.TooLong", "ImportImage", {**form, "ImageName": "n" * 61, "ImageUrl": urls["good"]})
env.expect_error("InvalidParameterValue.TooLong", "ImportImage", {**form, "ImageName": "x", "ImageDescription": "d" * 257, "ImageUrl": urls["good"]})
env.expect_error("InvalidParameterValue", "ImportImage", {**form, "ImageName": "x", "BootMode": "EFI", "ImageUrl": urls["good"]})
env.expect_error("UnknownParameter", "ImportImage", {**form, "ImageName": "x", "Bogus": True, "ImageUrl": urls["good"]})
msg = env.expect_error("InvalidUrl", "ImportImage", {**form, "ImageName": "x", "ImageUrl": "http://169.254.169.254/latest/meta-data"})
assert "object storage" in msg, msg
env.expect_error("InvalidUrl", "ImportImage", {**form, "ImageName": "x", "ImageUrl": f"http://{env.storage}/{bucket}/good.qcow2"})

step("DryRun: the whole pre-flight check, the URL stays usable")
dry = env.call("ImportImage", {**form, "ImageName": "dry", "ImageUrl": dry_url, "DryRun": True})
assert dry["DryRun"] is True and dry["Importable"] is False and dry["Codes"] == ["CloudInitNotInstalled"], dry
f = [x for x in dry["Findings"] if x["code"] == "CloudInitNotInstalled"][0]
assert f["rule"] == "R-CLOUDINIT" and f["evidence"] and f["fix"], f
assert dry["BytesRead"] > 0 and dry["ElapsedMs"] >= 0, dry
ok = env.call("ImportImage", {**form, "ImageName": "dry", "ImageUrl": urls["good"], "DryRun": True})
assert ok["Importable"] is True and ok["Codes"] == [] and ok["ErrorCode"] is None, ok
assert ok["Detected"] == {"OsType": "CentOS", "OsVersion": "7", "Architecture": "x86_64"}, ok["Detected"]
# A DryRun needs no OS fields (issue 15 item 2): it says what the form should declare.
bare = env.call("ImportImage", {"ImageName": "dry", "ImageUrl": urls["good"], "DryRun": True})
assert bare["Importable"] is True and bare["Detected"] == ok["Detected"], bare
wrong = env.call("ImportImage", {**form, "OsType": "Debian", "OsVersion": "12", "ImageName": "dry",
                                 "ImageUrl": urls["good"], "DryRun": True})
assert wrong["Detected"]["OsType"] == "CentOS", wrong
assert any(x["rule"] == "R-OS" and "Debian" in x["message"] for x in wrong["Findings"]), wrong["Findings"]
env.expect_error("MissingParameter", "ImportImage", {"ImageName": "x", "ImageUrl": urls["good"]})
assert env.call("DescribeImages")["TotalCount"] == 0, "a dry run imported"

# ---- message subscriptions -----------------------------------------------------------------
step("subscriptions: bob unsubscribed, carol with an allow-listed webhook, admin by default")
env.imgport("account", "add-user", env.app_id, "bob")
env.imgport("account", "add-user", env.app_id, "carol")
env.call("ModifySubscription", {"UserName": "bob", "Subscribed": False})
env.expect_error("InvalidParameterValue", "ModifySubscription", {"UserName": "carol", "Subscribed": True, "WebhookUrl": "http://10.0.0.1/hook"})
env.expect_error("InvalidParameterValue.UserNotFound", "DescribeSubscription", {"UserName": "mallory"})
env.expect_error("MissingParameter", "ModifySubscription", {"UserName": "carol"})
hooks = []


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        hooks.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):
        pass


hook_srv = http.server.HTTPServer(("127.0.0.1", env.hook_port), Hook)  # the allow-listed port
threading.Thread(target=hook_srv.serve_forever, daemon=True).start()
hook_url = f"http://127.0.0.1:{hook_srv.server_port}/imgport"
env.call("ModifySubscription", {"UserName": "carol", "Subscribed": True, "WebhookUrl": hook_url})
assert env.call("DescribeSubscription", {"UserName": "carol"})["WebhookUrl"] == hook_url
assert env.call("DescribeSubscription", {"UserName": "bob"})["Subscribed"] is False
assert env.call("DescribeSubscription")["Subscribed"] is True

# ---- imports ---------------------------------------------------------------------------------
step("ImportImage: one good image and one per failure code")
tags = [{"ResourceType": "image", "Tags": [{"Key": "team", "Value": "web"}]}]
ids = {}
for name in ("good", "nocloud", "datadisk", "gpt", "gzip"):
    extra = {"TagSpecification": tags, "ImageDescription": "from boto3"} if name == "good" else {}
    r = env.call("ImportImage", {**form, "ImageName": f"img-{name}", "ImageUrl": urls[name], **extra})
    assert r["ImageId"].startswith("img-") and len(r["ImageId"]) == 12, r
    ids[name] = r["ImageId"]
msg = env.expect_error("InvalidUrl", "ImportImage", {**form, "ImageName": "again", "ImageUrl": urls["good"]})
assert "already used" in msg and "same second" in msg, msg
# Names are unique per region (issue 15 item 5); the refusal does not use up the link.
dup_url = env.upload(s3, bucket, "dup.qcow2", images["good"])
msg = env.expect_error("InvalidImageName.Duplicate", "ImportImage", {**form, "ImageName": "img-good", "ImageUrl": dup_url})
assert ids["good"] in msg, msg
assert env.call("ImportImage", {**form, "ImageName": "other", "ImageUrl": dup_url, "DryRun": True})["Importable"], \
    "the refused import used up its link"
got = env.wait_images(list(ids.values()))
# `imgport images` shows what tccli cannot: the failure's code, cause and fix (issue 15 item 9).
conn = ["--endpoint", env.api, "--secret-id", env.sid, "--secret-key", env.skey]
p = subprocess.run([env.imgport_bin, "images", ids["nocloud"], *conn], capture_output=True, text=True)
assert p.returncode == 0, p.stderr
assert "IMPORTFAILED" in p.stdout and "error:  CloudInitNotInstalled" in p.stdout, p.stdout
assert "cause:  " in p.stdout and "fix:    " in p.stdout and "cloud-init" in p.stdout, p.stdout
p = subprocess.run([env.imgport_bin, "messages", *conn], capture_output=True, text=True)
assert p.returncode == 0 and "Image import failed: img-nocloud" in p.stdout, (p.stdout, p.stderr)
p = subprocess.run([env.imgport_bin, "images", *conn[:2], "--secret-id", env.sid, "--secret-key", "wrong"],
                   capture_output=True, text=True, env={"HOME": "/nonexistent", "PATH": os.environ["PATH"]})
assert p.returncode == 2 and "AuthFailure.SignatureFailure" in p.stderr, (p.returncode, p.stderr)
good = got[ids["good"]]
assert good["ImageState"] == "NORMAL", good
for k, v in {"ImageSource": "EXTERNAL_IMPORT", "ImageType": "PRIVATE_IMAGE", "Architecture": "x86_64",
             "Platform": "CentOS", "ImageSize": 1, "ImportProgress": 100, "ImportPhase": "done",
             "ImageDescription": "from boto3", "IsSupportCloudinit": True, "ErrorCode": None}.items():
    assert good[k] == v, (k, good[k])
assert good["Tags"] == [{"Key": "team", "Value": "web"}], good["Tags"]
assert time.strptime(good["CreatedTime"], "%Y-%m-%dT%H:%M:%SZ")
phases = [t["Phase"] for t in good["ImportTimings"]]
assert phases == ["fetch", "format", "size", "inspect", "policy", "convert", "register", "notify"], phases
assert all(t["Attempt"] == 1 and t["Outcome"] == "ok" for t in good["ImportTimings"]), good["ImportTimings"]
convert = [t for t in good["ImportTimings"] if t["Phase"] == "convert"][0]
assert convert["Bytes"] == 64 << 20, convert
assert any(x["rule"] == "R-VIRTIO" and x["severity"] == "warning" for x in good["Findings"]), good["Findings"]
expected = {"nocloud": "CloudInitNotInstalled", "datadisk": "RootPartitionNotFound",
            "gpt": "PartitionNotPresent", "gzip": "InvalidFormatSize"}
for name, code in expected.items():
    img = got[ids[name]]
    assert img["ImageState"] == "IMPORTFAILED" and img["ErrorCode"] == code, img
    assert img["ErrorMessage"] and img["ImportPhase"] == "policy", img
    assert any(x["code"] == code and x["fix"] for x in img["Findings"]), img["Findings"]
    assert [t["Outcome"] for t in img["ImportTimings"]][-1] == "failed", img["ImportTimings"]
    assert not os.path.exists(os.path.join(env.data, "images", ids[name] + ".qcow2"))

step("the stored qcow2 is sound and equal to the source (qemu-img)")
stored = os.path.join(env.data, "images", ids["good"] + ".qcow2")
subprocess.run(["qemu-img", "check", stored], check=True, capture_output=True)
subprocess.run(["qemu-img", "compare", images["good"], stored], check=True, capture_output=True)
info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", stored], check=True, capture_output=True).stdout)
assert info["format"] == "qcow2" and info["virtual-size"] == 64 << 20, info

# ---- messages --------------------------------------------------------------------------------
step("messages: the subscribed users have one per import, bob none; carol's webhook got them")
m = env.call("DescribeMessages", {"Limit": 100})
assert m["TotalCount"] == 5 and m["UnreadCount"] == 5, m
by_image = {x["ImageId"]: x for x in m["MessageSet"]}
assert by_image[ids["good"]]["ErrorCode"] is None and "succeeded" in by_image[ids["good"]]["Title"]
for name, code in expected.items():
    x = by_image[ids[name]]
    assert x["ErrorCode"] == code and code in x["Title"] and f"img-{name}" in x["Title"], x
    assert ids[name] in x["Content"] and "Fix:" in x["Content"] and "Cause:" in x["Content"], x["Content"]
    assert "Signature" not in x["Content"], "the signed URL leaked into a message"
assert env.call("DescribeMessages", {"UserName": "carol"})["TotalCount"] == 5
assert env.call("DescribeMessages", {"UserName": "bob"})["TotalCount"] == 0
deadline = time.time() + 20
while len(hooks) < 5 and time.time() < deadline:
    time.sleep(0.2)
assert sorted(h["ImageId"] for h in hooks) == sorted(ids.values()), hooks
assert all(h["UserName"] == "carol" and h["Topic"] == "image-import" for h in hooks), hooks
first = m["MessageSet"][0]["MessageId"]
env.call("ReadMessage", {"MessageId": first})
assert env.call("DescribeMessages")["UnreadCount"] == 4
unread = env.call("DescribeMessages", {"UnreadOnly": True, "Limit": 100})
assert unread["TotalCount"] == 4 and first not in [x["MessageId"] for x in unread["MessageSet"]]
carols = env.call("DescribeMessages", {"UserName": "carol"})["MessageSet"][0]["MessageId"]
env.expect_error("InvalidParameterValue.MessageNotFound", "ReadMessage", {"MessageIds": [first + 1000, carols]})
env.expect_error("InvalidParameterValue.MessageNotFound", "ReadMessage", {"UserName": "bob", "MessageId": carols})

# ---- DescribeImages filters, ModifyImageAttribute, DeleteImages ------------------------------
step("DescribeImages: filters, paging, regions, malformed ids")
r = env.call("DescribeImages", {"Filters": [{"Name": "image-state", "Values": ["IMPORTFAILED"]}], "Limit": 100})
assert r["TotalCount"] == 4 and {i["ImageId"] for i in r["ImageSet"]} == {ids[n] for n in expected}, r
r = env.call("DescribeImages", {"Filters": [{"Name": "image-name", "Values": ["img-good", "img-gpt"]}]})
assert r["TotalCount"] == 2, r
r = env.call("DescribeImages", {"Limit": 2, "Offset": 4})
assert r["TotalCount"] == 5 and len(r["ImageSet"]) == 1, r
assert env.call("DescribeImages", {"Filters": [{"Name": "image-type", "Values": ["PUBLIC_IMAGE"]}]})["TotalCount"] == 0
assert env.call("DescribeImages", {"Filters": [{"Name": "image-type", "Values": ["PRIVATE_IMAGE"]}]})["TotalCount"] == 5
assert env.call("DescribeImages", region="ap-shanghai")["TotalCount"] == 0
env.expect_error("InvalidFilter", "DescribeImages", {"Filters": [{"Name": "owner", "Values": ["x"]}]})
env.expect_error("InvalidParameter", "DescribeImages", {"ImageIds": [ids["good"]], "Filters": [{"Name": "image-state", "Values": ["NORMAL"]}]})
env.expect_error("InvalidImageId.Malformed", "DescribeImages", {"ImageIds": ["img-../../etc"]})
env.expect_error("InvalidParameterValue", "DescribeImages", {"Limit": 101})

step("ModifyImageAttribute and DeleteImages")
env.call("ModifyImageAttribute", {"ImageId": ids["good"], "ImageName": "renamed", "ImageDescription": "d"})
renamed = env.call("DescribeImages", {"ImageIds": [ids["good"]]})["ImageSet"][0]
assert (renamed["ImageName"], renamed["ImageDescription"]) == ("renamed", "d"), renamed
env.expect_error("InvalidImageId.NotFound", "ModifyImageAttribute", {"ImageId": "img-00000000", "ImageName": "x"})
msg = env.expect_error("InvalidImageName.Duplicate", "ModifyImageAttribute", {"ImageId": ids["good"], "ImageName": "img-nocloud"})
assert ids["nocloud"] in msg, msg
env.call("ModifyImageAttribute", {"ImageId": ids["good"], "ImageName": "renamed"})  # its own name: fine
time.sleep(1.1)  # an identical call within a second is a replay
env.expect_error("InvalidImageId.NotFound", "DeleteImages", {"ImageIds": [ids["good"], "img-00000000"]})
assert os.path.exists(stored), "a refused DeleteImages deleted something"
env.call("DeleteImages", {"ImageIds": [ids["good"]], "DryRun": True})
assert os.path.exists(stored)
env.call("DeleteImages", {"ImageIds": [ids["good"], ids["gzip"]]})
assert not os.path.exists(stored)
# {"ImageIds": [good]} was signed for DescribeImages above: in the same second the same
# body as DeleteImages carries the same signature and is refused as a replay (README,
# Security); a second later it is a new request.
time.sleep(1.1)
env.expect_error("InvalidImageId.NotFound", "DeleteImages", {"ImageIds": [ids["good"]]})
assert env.call("DescribeImages")["TotalCount"] == 3

step("tenant isolation: another account sees and changes nothing of this one")
other = env.imgport("account", "create", "other")
assert other["AppId"] != int(env.app_id) and other["SecretId"].startswith("AKID"), other
o = {"sid": other["SecretId"], "key": other["SecretKey"]}
assert env.call("DescribeImages", **o)["TotalCount"] == 0
assert env.call("DescribeImages", {"ImageIds": [ids["nocloud"]]}, **o)["TotalCount"] == 0
time.sleep(1.1)  # the same body as DeleteImages: a new second, a new signature
env.expect_error("InvalidImageId.NotFound", "DeleteImages", {"ImageIds": [ids["nocloud"]]}, **o)
env.expect_error("InvalidImageId.NotFound", "ModifyImageAttribute", {"ImageId": ids["nocloud"], "ImageName": "x"}, **o)
env.expect_error("InvalidParameterValue.UserNotFound", "DescribeMessages", {"UserName": "admin"}, **o)
assert env.call("DescribeMessages", **o)["TotalCount"] == 0
other_url = env.upload(s3, bucket, "for-other.qcow2", images["good"])
env.expect_error("InvalidUrl", "ImportImage", {**form, "ImageName": "steal", "ImageUrl": other_url.replace("Signature=", "Signature=0")}, **o)

# ---- operations --------------------------------------------------------------------------------
step("/healthz, /metrics, /openapi.json")
assert env.get("/healthz") == b"ok\n"
metrics = env.get("/metrics").decode()
for want in ['imgport_images{state="IMPORTFAILED"} 3', 'imgport_jobs_total{outcome="normal"} 1',
             'imgport_jobs_total{outcome="CloudInitNotInstalled"} 1',
             'imgport_api_requests_total{action="ImportImage",code="InvalidUrl"}',
             'imgport_phase_duration_seconds_bucket{phase="convert",le="+Inf"} 1',
             'imgport_job_duration_seconds_count{outcome="failed"} 4', "imgport_converted_bytes_total 67108864",
             'imgport_api_requests_total{action="other",code="InvalidAction"} 1']:
    assert want in metrics, f"{want} not in:\n{metrics}"
doc = json.loads(env.get("/openapi.json"))
assert doc["openapi"].startswith("3.") and {"/healthz", "/metrics", "/openapi.json"} <= set(doc["paths"]), doc
print("api clients: all passed", flush=True)
