"""The object store driven by cos-python-sdk-v5 (crates/service/tests/s3_cos.rs).

The SDK addresses buckets as virtual hosts (BUCKET-APPID.cos.REGION.myqcloud.com) and
signs with q-sign-algorithm=sha1; it reaches the test server through its Proxies
setting, so the Host header stays the COS name, as in production. Environment as for
s3_boto3.py.
"""
import hashlib
import io
import os
import time
import urllib.error
import urllib.parse
import urllib.request

from qcloud_cos import CosConfig, CosS3Client
from qcloud_cos.cos_exception import CosServiceError

EP = os.environ["S3_ENDPOINT"]
SID, SKEY, APP = os.environ["S3_SID"], os.environ["S3_SKEY"], os.environ["S3_APPID"]
SID2, SKEY2, APP2 = os.environ["S3_SID2"], os.environ["S3_SKEY2"], os.environ["S3_APPID2"]
REGION = os.environ["S3_REGION"]
TMP = os.environ["S3_TMP"]
MiB = 1024 * 1024
VIA_SERVER = urllib.request.build_opener(urllib.request.ProxyHandler({"http": EP}))


def step(msg):
    print(f"== {msg}", flush=True)


def client(region=REGION, sid=SID, skey=SKEY):
    conf = CosConfig(Region=region, SecretId=sid, SecretKey=skey, Scheme="http", Proxies={"http": EP})
    return CosS3Client(conf, retry=1)


def expect_error(code, status, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except CosServiceError as e:
        assert e.get_error_code() == code and e.get_status_code() == status, (code, status, e.get_error_code(), e.get_status_code(), e.get_error_msg())
        return e
    raise AssertionError(f"expected {code}, the call succeeded")


def fetch(url, headers=None):
    try:
        with VIA_SERVER.open(urllib.request.Request(url, headers=headers or {}), timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


cos = client()
B = f"cos-{APP}"

step("create_bucket: the region comes from the host name")
cos.create_bucket(Bucket=B)
cos.head_bucket(Bucket=B)
assert B in [b["Name"] for b in cos.list_buckets()["Buckets"]["Bucket"]]
fsi = client("ap-shanghai-fsi")
FB = f"fsi-{APP}"
fsi.create_bucket(Bucket=FB)
expect_error("NoSuchBucket", 404, cos.list_objects, Bucket=FB)  # asked in the wrong region
expect_error("InvalidBucketName", 400, cos.create_bucket, Bucket=f"x-{APP2}")
expect_error("InvalidLocationConstraint", 400, client("ap-mars").create_bucket, Bucket=f"mars-{APP}")

step("put_object with Content-MD5, head_object, get_object with a range")
data = os.urandom(150_000)
r = cos.put_object(Bucket=B, Key="dir/small.bin", Body=data, EnableMD5=True, ContentType="application/x-test")
assert r["ETag"] == f'"{hashlib.md5(data).hexdigest()}"', r
h = cos.head_object(Bucket=B, Key="dir/small.bin")
assert int(h["Content-Length"]) == len(data) and h["Content-Type"] == "application/x-test", h
got = cos.get_object(Bucket=B, Key="dir/small.bin", Range="bytes=100-199")["Body"].get_raw_stream().read()
assert got == data[100:200]
assert cos.get_object(Bucket=B, Key="dir/small.bin")["Body"].get_raw_stream().read() == data

step("upload_file: multipart in 1 MB parts (ListMultipartUploads, UploadPart, Complete)")
big = os.urandom(3 * MiB + 12345)
path = os.path.join(TMP, "cos-big.bin")
with open(path, "wb") as f:
    f.write(big)
cos.upload_file(Bucket=B, Key="big.qcow2", LocalFilePath=path, PartSize=1, MAXThread=3)
h = cos.head_object(Bucket=B, Key="big.qcow2")
assert int(h["Content-Length"]) == len(big), h
parts = [big[i:i + MiB] for i in range(0, len(big), MiB)]
etag = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + f"-{len(parts)}"
assert h["ETag"] == f'"{etag}"', (h["ETag"], etag)
assert cos.get_object(Bucket=B, Key="big.qcow2")["Body"].get_raw_stream().read() == big
# upload_file_from_buffer reads rt['ETag'] of each part: header names as COS spells them.
cos.upload_file_from_buffer(Bucket=B, Key="buf.bin", Body=io.BytesIO(big), PartSize=1, MaxBufferSize=4)
assert cos.get_object(Bucket=B, Key="buf.bin")["Body"].get_raw_stream().read() == big

step("list_objects (v1 with marker), delimiter")
for k in ["l/a", "l/b/1", "l/c"]:
    cos.put_object(Bucket=B, Key=k, Body=k.encode())
r = cos.list_objects(Bucket=B, Prefix="l/", Delimiter="/")
assert [c["Key"] for c in r["Contents"]] == ["l/a", "l/c"], r
assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["l/b/"], r
r = cos.list_objects(Bucket=B, Prefix="l/", MaxKeys=2)
assert r["IsTruncated"] == "true" and r["NextMarker"] == "l/b/1", r
r = cos.list_objects(Bucket=B, Prefix="l/", Marker=r["NextMarker"])
assert [c["Key"] for c in r["Contents"]] == ["l/c"], r

step("get_presigned_url: fetched through the server; tampered, other key, expired -> 403")
url = cos.get_presigned_url(Bucket=B, Key="big.qcow2", Method="GET", Expired=600)
assert url.startswith(f"http://{B}.cos.{REGION}.myqcloud.com/big.qcow2?"), url
status, got = fetch(url)
assert status == 200 and got == big, status
status, got = fetch(url, {"Range": "bytes=0-3"})
assert status == 206 and got == big[:4]
status, got = fetch(url.replace("q-signature=", "q-signature=0"))
assert status == 403 and b"SignatureDoesNotMatch" in got, (status, got)
status, got = fetch(url.replace("/big.qcow2?", "/dir/small.bin?"))
assert status == 403 and b"SignatureDoesNotMatch" in got, (status, got)
dl = cos.get_presigned_download_url(Bucket=B, Key="dir/small.bin", Expired=600)
assert fetch(dl) == (200, data)
short = cos.get_presigned_url(Bucket=B, Key="dir/small.bin", Method="GET", Expired=1)
time.sleep(2.1)
status, got = fetch(short)
assert status == 403 and b"AccessDenied" in got and b"Request has expired" in got, (status, got)
status, got = fetch(f"http://{B}.cos.{REGION}.myqcloud.com/dir/small.bin")  # anonymous, private
assert status == 403, status

step("x-cos-acl: public-read objects are readable without a signature")
cos.put_object_acl(Bucket=B, Key="dir/small.bin", ACL="public-read")
assert fetch(f"http://{B}.cos.{REGION}.myqcloud.com/dir/small.bin") == (200, data)
acl = cos.get_object_acl(Bucket=B, Key="dir/small.bin")
assert "AllUsers" in str(acl), acl
cos.put_object(Bucket=B, Key="pub.txt", Body=b"pub", ACL="public-read")
assert fetch(f"http://{B}.cos.{REGION}.myqcloud.com/pub.txt") == (200, b"pub")

step("wrong key, other tenant")
expect_error("SignatureDoesNotMatch", 403, client(skey=SKEY + "x").list_objects, Bucket=B)
expect_error("InvalidAccessKeyId", 403, client(sid="AKIDNOSUCHKEY00000000000000000000000").list_objects, Bucket=B)
other = client(sid=SID2, skey=SKEY2)
expect_error("AccessDenied", 403, other.get_object, Bucket=B, Key="big.qcow2")
expect_error("AccessDenied", 403, other.put_object, Bucket=B, Key="x", Body=b"x")

step("issue 15 item 6: Endpoint=cos.REGION.localhost works; Domain=HOST:PORT is refused, not guessed")
port = urllib.parse.urlsplit(EP).port
# The set-up the README documents: the SDK builds BUCKET.cos.REGION.localhost:PORT (it
# resolves to 127.0.0.1 where nss-myhostname runs; here the Proxies setting sends it to
# the server with that Host header, as a resolver would).
local = CosS3Client(CosConfig(Region=REGION, SecretId=SID, SecretKey=SKEY, Scheme="http",
                              Endpoint=f"cos.{REGION}.localhost:{port}", Proxies={"http": EP}), retry=1)
local.put_object(Bucket=B, Key="via-localhost.txt", Body=b"local")
assert local.get_object(Bucket=B, Key="via-localhost.txt")["Body"].get_raw_stream().read() == b"local"
# The README's snippet: upload_file, then a presigned GET link of that host.
readme_file = os.path.join(TMP, "readme-disk.bin")
with open(readme_file, "wb") as f:
    f.write(b"R" * 70000)
local.upload_file(Bucket=B, Key="disk.qcow2", LocalFilePath=readme_file)
link = local.get_presigned_url(Bucket=B, Key="disk.qcow2", Method="GET", Expired=3600)
assert link.startswith(f"http://{B}.cos.{REGION}.localhost:{port}/disk.qcow2?"), link
parts = urllib.parse.urlsplit(link)  # sent to the server with the link's Host, as a resolver would
assert fetch(f"{EP}{parts.path}?{parts.query}", {"Host": parts.netloc}) == (200, b"R" * 70000)
# The natural mistake: Domain= replaces the whole host, so the URL carries no bucket and
# the PUT of /KEY reads as CreateBucket KEY. Refused with a clear message; no bucket made.
trap = CosS3Client(CosConfig(Region=REGION, SecretId=SID, SecretKey=SKEY, Scheme="http",
                             Domain=EP.removeprefix("http://")), retry=1)
e = expect_error("InvalidRequest", 400, trap.put_object, Bucket=B, Key="trap.qcow2", Body=b"x" * 1000)
assert "no bucket" in e.get_error_msg() and "Endpoint=" in e.get_error_msg(), e.get_error_msg()
assert "trap.qcow2" not in [b["Name"] for b in cos.list_buckets()["Buckets"]["Bucket"]]

step("delete_object, delete_bucket")
cos.delete_object(Bucket=B, Key="dir/small.bin")
expect_error("NoSuchKey", 404, cos.get_object, Bucket=B, Key="dir/small.bin")
fsi.delete_bucket(Bucket=FB)
try:
    fsi.head_bucket(Bucket=FB)
    raise AssertionError("a deleted bucket still answers HEAD")
except CosServiceError as e:
    assert e.get_status_code() == 404, e.get_status_code()
print("OK cos")
