"""End-to-end test of `imgport serve` with the real clients (issue 7):
boto3 (S3: bucket with a region, multipart upload, presigned GET) and
tencentcloud-sdk-python (TC3-signed CVM actions). Run by crates/cli/tests/service.rs.

usage: service_e2e.py API STORAGE SECRET_ID SECRET_KEY APP_ID DATA_DIR GOOD_IMAGE BAD_IMAGE IMGPORT [FAILING]
FAILING: JSON list of [error code, image path]: more real images, each must end
IMPORTFAILED with that code and a message for the subscribed user only.
"""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import boto3
from botocore.config import Config
from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.cvm.v20170312 import cvm_client, models

API, STORAGE, SID, SKEY, APP_ID, DATA, GOOD, BAD, IMGPORT = sys.argv[1:10]
FAILING = json.loads(sys.argv[10]) if len(sys.argv) > 10 else []
REGION = "ap-guangzhou"


def profile():
    hp = HttpProfile(protocol="http", endpoint=API, reqTimeout=60)
    return ClientProfile(httpProfile=hp)


def common(key=SKEY):
    return CommonClient("cvm", "2017-03-12", credential.Credential(SID, key), REGION, profile=profile())


def call(action, params, key=SKEY):
    return common(key).call_json(action, params)["Response"]


def expect_error(code, action, params, key=SKEY):
    try:
        r = call(action, params, key)
    except TencentCloudSDKException as e:
        assert e.code == code, f"{action}: expected {code}, got {e.code}: {e.message}"
        return e.message
    raise AssertionError(f"{action}: expected {code}, got success {r}")


def step(msg):
    print(f"-- {msg}", flush=True)


# ---- the typed SDK client: DescribeImportImageOs ---------------------------------
step("DescribeImportImageOs through the typed SDK client")
cvm = cvm_client.CvmClient(credential.Credential(SID, SKEY), REGION, profile())
os_resp = cvm.DescribeImportImageOs(models.DescribeImportImageOsRequest())
names = [o.OsName for o in os_resp.ImportImageOsVersionSet]
assert "CentOS" in names and "Debian" in names, names
assert "Windows Server 2016" in os_resp.ImportImageOsListSupported.Windows or os_resp.ImportImageOsListSupported.Windows

step("tccli (the real CLI) against the endpoint")
TCCLI = os.path.join(os.path.dirname(sys.executable), "tccli")
tenv = dict(os.environ, HOME=os.path.join(DATA, "tccli-home"))


def tccli(*args, ok=True):
    p = subprocess.run([TCCLI, "cvm", *args, "--endpoint", f"http://{API}", "--region", REGION, "--secretId", SID, "--secretKey", SKEY],
                       capture_output=True, text=True, env=tenv)
    if ok:
        assert p.returncode == 0, f"tccli {args}: {p.stdout} {p.stderr}"
        return json.loads(p.stdout)
    return p


r = tccli("DescribeImportImageOs")
assert "CentOS" in r["ImportImageOsListSupported"]["Linux"], r
assert tccli("DescribeImages")["TotalCount"] == 0
p = tccli("ImportImage", "--Architecture", "x86_64", "--OsType", "Plan9", "--OsVersion", "1", "--ImageName", "x", "--ImageUrl", "http://example.com/x", ok=False)
assert p.returncode != 0 and "InvalidImageOsType.Unsupported" in (p.stdout + p.stderr), p

step("bad signatures and unknown keys are refused")
expect_error("AuthFailure.SignatureFailure", "DescribeImages", {}, key="wrong-secret-key")
try:
    CommonClient("cvm", "2017-03-12", credential.Credential("AKIDnotakey", "x"), REGION, profile=profile()).call_json("DescribeImages", {})
    raise AssertionError("unknown SecretId accepted")
except TencentCloudSDKException as e:
    assert e.code == "AuthFailure.SecretIdNotFound", e.code
expect_error("InvalidAction", "NoSuchAction", {})

# ---- S3 upload with boto3 --------------------------------------------------------
step("boto3: bucket in a region, multipart upload, presigned GET")
s3 = boto3.client(
    "s3",
    endpoint_url=f"http://{STORAGE}",
    aws_access_key_id=SID,
    aws_secret_access_key=SKEY,
    region_name=REGION,
    config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
)
bucket = f"images-{APP_ID}"
s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == REGION
from boto3.s3.transfer import TransferConfig  # noqa: E402

s3.upload_file(GOOD, bucket, "good.qcow2", Config=TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=64 << 20))
s3.upload_file(BAD, bucket, "nocloud.qcow2", Config=TransferConfig(multipart_threshold=1 << 40))
head = s3.head_object(Bucket=bucket, Key="good.qcow2")
import os  # noqa: E402

assert head["ContentLength"] == os.path.getsize(GOOD), head
assert head["ETag"].strip('"').endswith(f"-{-(-os.path.getsize(GOOD) // (64 << 20))}"), head["ETag"]
listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
assert listed == ["good.qcow2", "nocloud.qcow2"], listed
rng = s3.get_object(Bucket=bucket, Key="good.qcow2", Range="bytes=0-3")["Body"].read()
assert rng == b"QFI\xfb", rng

good_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "good.qcow2"}, ExpiresIn=3600)
bad_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "nocloud.qcow2"}, ExpiresIn=3600)
dry_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "nocloud.qcow2"}, ExpiresIn=600)
req = urllib.request.Request(good_url, headers={"Range": "bytes=0-3"})
assert urllib.request.urlopen(req).read() == b"QFI\xfb"
for url in (good_url.replace("Signature=", "Signature=0"), f"http://{STORAGE}/{bucket}/good.qcow2"):
    try:
        urllib.request.urlopen(url)
        raise AssertionError(f"{url} must be refused")
    except urllib.error.HTTPError as e:
        assert e.code == 403, e.code

step("cos-python-sdk-v5: COS signatures, virtual-host buckets (through a proxy), presigned URL")
from qcloud_cos import CosConfig, CosS3Client  # noqa: E402

cos = CosS3Client(CosConfig(Region=REGION, SecretId=SID, SecretKey=SKEY, Scheme="http", Proxies={"http": f"http://{STORAGE}"}))
cbucket = f"cos-{APP_ID}"
cos.create_bucket(Bucket=cbucket)
cos.upload_file(Bucket=cbucket, Key="nocloud.qcow2", LocalFilePath=BAD, PartSize=64, MAXThread=4)
chead = {k.lower(): v for k, v in cos.head_object(Bucket=cbucket, Key="nocloud.qcow2").items()}
assert int(chead["content-length"]) == os.path.getsize(BAD), chead
cos_url = cos.get_presigned_url(Bucket=cbucket, Key="nocloud.qcow2", Method="GET", Expired=600)
assert cos_url.startswith(f"http://{cbucket}.cos.{REGION}.myqcloud.com/"), cos_url
opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": f"http://{STORAGE}"}))
assert opener.open(urllib.request.Request(cos_url, headers={"Range": "bytes=0-3"})).read() == b"QFI\xfb"
try:
    opener.open(cos_url.replace("q-signature=", "q-signature=0"))
    raise AssertionError("a tampered COS signature was accepted")
except urllib.error.HTTPError as e:
    assert e.code == 403, e.code

# ---- the import form and the URL rules -------------------------------------------
form = {"Architecture": "x86_64", "OsType": "Debian", "OsVersion": "12", "ImageName": "debian-good"}
step("form and URL errors")
expect_error("InvalidImageOsType.Unsupported", "ImportImage", {**form, "OsType": "Plan9", "ImageUrl": good_url})
expect_error("InvalidImageOsVersion.Unsupported", "ImportImage", {**form, "OsVersion": "5", "ImageUrl": good_url})
expect_error("MissingParameter", "ImportImage", {k: v for k, v in form.items() if k != "ImageName"} | {"ImageUrl": good_url})
expect_error("InvalidParameterValue.TooLong", "ImportImage", {**form, "ImageName": "x" * 61, "ImageUrl": good_url})
expect_error("InvalidUrl", "ImportImage", {**form, "ImageUrl": "http://169.254.169.254/latest/meta-data"})
expect_error("InvalidUrl", "ImportImage", {**form, "ImageUrl": f"http://{STORAGE}/{bucket}/good.qcow2"})
expect_error("InvalidUrl", "ImportImage", {**form, "ImageUrl": f"http://{STORAGE}/{bucket}/missing.qcow2"})
s3.create_bucket(Bucket=f"fsi-{APP_ID}", CreateBucketConfiguration={"LocationConstraint": "ap-shanghai-fsi"})
s3.put_object(Bucket=f"fsi-{APP_ID}", Key="x.raw", Body=b"\0" * 512)
# A link presigned for another region than its bucket's is refused as S3 does (issue 18
# item 2); the finance rule (R-REGION) is about a valid link, signed for the bucket's region.
wrong_region_url = s3.generate_presigned_url("get_object", Params={"Bucket": f"fsi-{APP_ID}", "Key": "x.raw"}, ExpiresIn=600)
msg = expect_error("InvalidUrl", "ImportImage", {**form, "ImageUrl": wrong_region_url})
assert "presign it for ap-shanghai-fsi" in msg, msg
s3_fsi = boto3.client(
    "s3",
    endpoint_url=f"http://{STORAGE}",
    aws_access_key_id=SID,
    aws_secret_access_key=SKEY,
    region_name="ap-shanghai-fsi",
    config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
)
fsi_url = s3_fsi.generate_presigned_url("get_object", Params={"Bucket": f"fsi-{APP_ID}", "Key": "x.raw"}, ExpiresIn=600)
msg = expect_error("InvalidUrl", "ImportImage", {**form, "ImageUrl": fsi_url})
assert "finance" in msg, msg

step("an expired signed URL is InvalidUrl")
short_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "nocloud.qcow2"}, ExpiresIn=1)
time.sleep(2.5)
assert "expired" in expect_error("InvalidUrl", "ImportImage", {**form, "ImageUrl": short_url})

step("DryRun with a COS presigned URL")
cdry = call("ImportImage", {"Architecture": "x86_64", "OsType": "Debian", "OsVersion": "12", "ImageName": "cos", "ImageUrl": cos_url, "DryRun": True})
assert cdry["Codes"] == ["CloudInitNotInstalled"], cdry

step("DryRun: the full pre-flight check by range reads")
dry = call("ImportImage", {**form, "ImageUrl": dry_url, "DryRun": True})
assert dry["DryRun"] is True and dry["Importable"] is False, dry
assert dry["Codes"] == ["CloudInitNotInstalled"], dry["Codes"]
assert any(f["rule"] == "R-CLOUDINIT" and f["fix"] for f in dry["Findings"]), dry["Findings"]
# A dry run does not consume the signature.
dry2 = call("ImportImage", {**form, "ImageUrl": dry_url, "DryRun": True})
assert dry2["Codes"] == ["CloudInitNotInstalled"]

# ---- subscriptions: bob unsubscribed, admin subscribed -----------------------------
step("message subscriptions")
subprocess.run([IMGPORT, "account", "add-user", APP_ID, "bob", "--data-dir", DATA], check=True, capture_output=True)
call("ModifySubscription", {"UserName": "bob", "Subscribed": False})
expect_error("InvalidParameterValue", "ModifySubscription", {"Subscribed": True, "WebhookUrl": "http://169.254.169.254/hook"})
# The admin user also gets a webhook on a local listener.
import http.server  # noqa: E402
import threading  # noqa: E402

hooks = []


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        hooks.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):
        pass


# The port the server's webhook allow-list names (crates/cli/tests/service.rs).
hook_srv = http.server.HTTPServer(("127.0.0.1", int(os.environ["IMGPORT_TEST_HOOK_PORT"])), Hook)
threading.Thread(target=hook_srv.serve_forever, daemon=True).start()
call("ModifySubscription", {"Subscribed": True, "WebhookUrl": f"http://127.0.0.1:{hook_srv.server_port}/imgport"})
assert call("DescribeSubscription", {"UserName": "bob"})["Subscribed"] is False
assert call("DescribeSubscription", {})["Subscribed"] is True

# ---- imports -------------------------------------------------------------------------
step("ImportImage: a good Debian image and one without cloud-init")
good_id = call("ImportImage", {**form, "ImageUrl": good_url, "ImageDescription": "from boto3"})["ImageId"]
bad_id = call("ImportImage", {**form, "ImageName": "debian-nocloud", "ImageUrl": bad_url})["ImageId"]
assert good_id.startswith("img-") and bad_id.startswith("img-")
step("a signed URL imports once")
expect_error("InvalidUrl", "ImportImage", {**form, "ImageUrl": good_url})

deadline = time.time() + 600
while True:
    images = {i["ImageId"]: i for i in call("DescribeImages", {"ImageIds": [good_id, bad_id]})["ImageSet"]}
    states = {k: (v["ImageState"], v["ImportPhase"], v["ImportProgress"]) for k, v in images.items()}
    print("   ", states, flush=True)
    if all(v["ImageState"] != "IMPORTING" for v in images.values()):
        break
    assert time.time() < deadline, f"imports did not finish: {states}"
    time.sleep(2)
good, bad = images[good_id], images[bad_id]
assert good["ImageState"] == "NORMAL", good
assert good["ImageSource"] == "EXTERNAL_IMPORT" and good["Architecture"] == "x86_64"
assert good["ImageSize"] >= 1 and good["CreatedTime"].endswith("Z")
assert bad["ImageState"] == "IMPORTFAILED", bad
assert bad["ErrorCode"] == "CloudInitNotInstalled", bad
assert "cloud-init" in bad["ErrorMessage"], bad["ErrorMessage"]

step("filters, paging, rename")
r = call("DescribeImages", {"Filters": [{"Name": "image-state", "Values": ["NORMAL"]}]})
assert [i["ImageId"] for i in r["ImageSet"]] == [good_id], r
assert call("DescribeImages", {"Limit": 1})["TotalCount"] == 2
call("ModifyImageAttribute", {"ImageId": good_id, "ImageName": "debian-renamed"})
assert call("DescribeImages", {"ImageIds": [good_id]})["ImageSet"][0]["ImageName"] == "debian-renamed"

step("the stored qcow2 is sound and equals the source")
stored = os.path.join(DATA, "images", f"{good_id}.qcow2")
subprocess.run(["qemu-img", "check", stored], check=True, capture_output=True)
subprocess.run(["qemu-img", "compare", GOOD, stored], check=True, capture_output=True)

step("messages: the subscribed user has both, the unsubscribed none")
m = call("DescribeMessages", {})
codes = sorted((x["ImageId"], x["ErrorCode"]) for x in m["MessageSet"])
assert codes == sorted([(good_id, None), (bad_id, "CloudInitNotInstalled")]), m
assert m["UnreadCount"] == 2
fail_msg = [x for x in m["MessageSet"] if x["ErrorCode"]][0]
assert "CloudInitNotInstalled" in fail_msg["Title"] and "cloud-init" in fail_msg["Content"], fail_msg
call("ReadMessage", {"MessageId": fail_msg["MessageId"]})
assert call("DescribeMessages", {})["UnreadCount"] == 1
assert call("DescribeMessages", {"UserName": "bob"})["TotalCount"] == 0

assert sorted(h["ImageId"] for h in hooks) == sorted([good_id, bad_id]), hooks

step("DeleteImages removes the stored file")
# The same body was signed for DescribeImages above, and is sent twice here: each
# must be a new signature (a new second), else it is refused as a replay (README, Security).
time.sleep(1.1)
call("DeleteImages", {"ImageIds": [good_id]})
assert not os.path.exists(stored)
time.sleep(1.1)
expect_error("InvalidImageId.NotFound", "DeleteImages", {"ImageIds": [good_id]})

step("tenant isolation")
other = json.loads(subprocess.run([IMGPORT, "account", "create", "other", "--data-dir", DATA], check=True, capture_output=True, text=True).stdout)
oc = CommonClient("cvm", "2017-03-12", credential.Credential(other["SecretId"], other["SecretKey"]), REGION, profile=profile())
assert oc.call_json("DescribeImages", {})["Response"]["TotalCount"] == 0
s3o = boto3.client("s3", endpoint_url=f"http://{STORAGE}", aws_access_key_id=other["SecretId"], aws_secret_access_key=other["SecretKey"], region_name=REGION, config=Config(s3={"addressing_style": "path"}))
try:
    s3o.get_object(Bucket=bucket, Key="nocloud.qcow2")
    raise AssertionError("another tenant read a private object")
except s3o.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "AccessDenied", e.response

step("RequestLimitExceeded under a burst")
# A token bucket of RATE per second and RATE deep per SecretId (crates/service/src/api/
# ratelimit.rs, whose unit test drives it with an injected clock). Over the client's
# elapsed time T (at least the server's), at most RATE * (1 + T) calls can pass: a slow
# machine only loosens this bound, and on any machine that makes the 120 calls in under
# 1.4 s it forces some to be limited.
RATE = 50
limited = 0
t0 = time.monotonic()
for _ in range(120):
    try:
        call("DescribeImportImageOs", {})
    except TencentCloudSDKException as e:
        assert e.code == "RequestLimitExceeded", e.code
        limited += 1
took = time.monotonic() - t0
allowed = 120 - limited
assert allowed <= RATE * (1 + took) + 1, f"{allowed} of 120 calls passed in {took:.2f} s"
print(f"  {limited} of 120 calls limited in {took:.2f} s")
time.sleep(1.5)

step("health and metrics")
assert urllib.request.urlopen(f"http://{API}/healthz").read() == b"ok\n"
metrics = urllib.request.urlopen(f"http://{API}/metrics").read().decode()
assert 'imgport_images{state="IMPORTFAILED"} 1' in metrics, metrics
assert "imgport_jobs_total" in metrics

step(f"every other failure code from a real image ({len(FAILING)} images)")
failing = {}
for i, (code, path) in enumerate(FAILING):
    key = f"failing-{i}-{os.path.basename(path)}"
    s3.upload_file(path, bucket, key, Config=TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=64 << 20))
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600)
    image_id = call("ImportImage", {**form, "ImageName": f"failing-{i}", "ImageUrl": url})["ImageId"]
    failing[image_id] = (code, path)
deadline = time.time() + 600
while failing:
    images = {i["ImageId"]: i for i in call("DescribeImages", {"ImageIds": list(failing)})["ImageSet"]}
    if all(v["ImageState"] != "IMPORTING" for v in images.values()):
        break
    assert time.time() < deadline, f"imports did not finish: {images}"
    time.sleep(1)
admin_msgs = call("DescribeMessages", {"Limit": 100})["MessageSet"]
for image_id, (code, path) in failing.items():
    img = images[image_id]
    assert img["ImageState"] == "IMPORTFAILED" and img["ErrorCode"] == code, (path, img)
    assert img["ErrorMessage"], img
    msgs = [m for m in admin_msgs if m["ImageId"] == image_id]
    assert len(msgs) == 1 and msgs[0]["ErrorCode"] == code and code in msgs[0]["Title"], (path, msgs)
    print(f"    {os.path.basename(path)} -> IMPORTFAILED {code}", flush=True)
assert call("DescribeMessages", {"UserName": "bob"})["TotalCount"] == 0
assert not [n for n in os.listdir(os.path.join(DATA, "images")) if any(n.startswith(i) for i in failing)], "a failed import left a file"
print("service e2e: all passed", flush=True)
