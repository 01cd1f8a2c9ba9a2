"""The object store driven by boto3 (crates/service/tests/s3_boto3.rs).

Environment: S3_ENDPOINT, S3_SID/S3_SKEY/S3_APPID (tenant A), S3_SID2/S3_SKEY2/S3_APPID2
(tenant B), S3_REGION, S3_TMP. Every step asserts; the script exits non-zero on the
first failure.
"""
import base64
import hashlib
import os
import time
import urllib.error
import urllib.request
import zlib

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

EP = os.environ["S3_ENDPOINT"]
SID, SKEY, APP = os.environ["S3_SID"], os.environ["S3_SKEY"], os.environ["S3_APPID"]
SID2, SKEY2, APP2 = os.environ["S3_SID2"], os.environ["S3_SKEY2"], os.environ["S3_APPID2"]
REGION = os.environ["S3_REGION"]
TMP = os.environ["S3_TMP"]
MiB = 1024 * 1024
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def step(msg):
    print(f"== {msg}", flush=True)


def client(sid=SID, skey=SKEY):
    return boto3.client(
        "s3",
        endpoint_url=EP,
        aws_access_key_id=sid,
        aws_secret_access_key=skey,
        region_name=REGION,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1, "mode": "standard"}),
    )


def expect_error(code, fn, *args, status=None, **kwargs):
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e.response['Error']}"
        if status is not None:
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == status, e.response
        return e
    raise AssertionError(f"expected {code}, the call succeeded")


def fetch(url, headers=None):
    """(status, body, headers) of a plain HTTP GET (no AWS client involved)."""
    try:
        with NO_PROXY.open(urllib.request.Request(url, headers=headers or {}), timeout=30) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def b64(d):
    return base64.b64encode(d).decode()


s3 = client()
B = f"images-{APP}"

step("CreateBucket with a region; location, head, list, names")
s3.create_bucket(Bucket=B, CreateBucketConfiguration={"LocationConstraint": REGION})
assert s3.get_bucket_location(Bucket=B)["LocationConstraint"] == REGION
FSI = f"fsi-{APP}"
s3.create_bucket(Bucket=FSI, CreateBucketConfiguration={"LocationConstraint": "ap-shanghai-fsi"})
assert s3.get_bucket_location(Bucket=FSI)["LocationConstraint"] == "ap-shanghai-fsi"
h = s3.head_bucket(Bucket=FSI)
assert h["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "ap-shanghai-fsi"
expect_error("InvalidLocationConstraint", s3.create_bucket, Bucket=f"mars-{APP}",
             CreateBucketConfiguration={"LocationConstraint": "mars-north-1"})
# The same CreateBucket as above: in the same second it would carry the same signature
# and be refused as a replay (README, Security); a second later it is a new request.
time.sleep(1.1)
expect_error("BucketAlreadyOwnedByYou", s3.create_bucket, Bucket=B,
             CreateBucketConfiguration={"LocationConstraint": REGION}, status=409)
expect_error("InvalidBucketName", s3.create_bucket, Bucket=f"images-{APP2}")  # B's AppId
expect_error("InvalidBucketName", s3.create_bucket, Bucket="Bad_Name")
s3.create_bucket(Bucket="plain-name-bucket")  # S3-style names work too; default region
assert s3.get_bucket_location(Bucket="plain-name-bucket")["LocationConstraint"] == REGION
names = sorted(b["Name"] for b in s3.list_buckets()["Buckets"])
assert names == sorted([B, FSI, "plain-name-bucket"]), names

step("PutObject with Content-MD5, metadata and checksums")
data = os.urandom(300_000)
md5 = hashlib.md5(data)
r = s3.put_object(Bucket=B, Key="dir/small.bin", Body=data, ContentMD5=b64(md5.digest()),
                  ContentType="application/x-test", Metadata={"purpose": "test"})
assert r["ETag"] == f'"{md5.hexdigest()}"', r["ETag"]
r = s3.put_object(Bucket=B, Key="dir/sha.bin", Body=data, ChecksumAlgorithm="SHA256")
assert r["ChecksumSHA256"] == b64(hashlib.sha256(data).digest()), r
r = s3.put_object(Bucket=B, Key="dir/crc.bin", Body=data, ChecksumAlgorithm="CRC32")
assert r["ChecksumCRC32"] == b64((zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big")), r
expect_error("BadDigest", s3.put_object, Bucket=B, Key="dir/bad.bin", Body=data,
             ContentMD5=b64(hashlib.md5(b"other").digest()), status=400)
expect_error("BadDigest", s3.put_object, Bucket=B, Key="dir/bad.bin", Body=data, ChecksumCRC32="AAAAAA==")
expect_error("BadDigest", s3.put_object, Bucket=B, Key="dir/bad.bin", Body=data,
             ChecksumSHA256=b64(hashlib.sha256(b"x").digest()))
expect_error("404", s3.head_object, Bucket=B, Key="dir/bad.bin")  # nothing stored
empty = s3.put_object(Bucket=B, Key="dir/empty", Body=b"")
assert empty["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
h = s3.head_object(Bucket=B, Key="dir/small.bin")
assert h["ContentLength"] == len(data) and h["ETag"] == f'"{md5.hexdigest()}"', h
assert h["ContentType"] == "application/x-test" and h["Metadata"] == {"purpose": "test"}, h
assert abs(time.time() - h["LastModified"].timestamp()) < 300, h["LastModified"]
g = s3.get_object(Bucket=B, Key="dir/small.bin")
assert g["Body"].read() == data

step("multipart upload: 12 MiB in 5 MiB parts (upload_file), HeadObject, GetObject")
big = os.urandom(12 * MiB)
path = os.path.join(TMP, "big.bin")
with open(path, "wb") as f:
    f.write(big)
cfg = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=3)
s3.upload_file(path, B, "big.qcow2", Config=cfg)
parts = [big[i:i + 5 * MiB] for i in range(0, len(big), 5 * MiB)]
want_etag = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + f"-{len(parts)}"
h = s3.head_object(Bucket=B, Key="big.qcow2")
assert h["ContentLength"] == len(big), h
assert h["ETag"] == f'"{want_etag}"', (h["ETag"], want_etag)
body = s3.get_object(Bucket=B, Key="big.qcow2")["Body"]
got = hashlib.sha256()
for chunk in iter(lambda: body.read(MiB), b""):
    got.update(chunk)
assert got.digest() == hashlib.sha256(big).digest()

step("multipart by hand: replace a part, ListParts, InvalidPart, EntityTooSmall, Abort")
up = s3.create_multipart_upload(Bucket=B, Key="manual.bin", ACL="public-read")["UploadId"]
p1 = os.urandom(MiB + 5)
s3.upload_part(Bucket=B, Key="manual.bin", UploadId=up, PartNumber=1, Body=b"first try")
e1 = s3.upload_part(Bucket=B, Key="manual.bin", UploadId=up, PartNumber=1, Body=p1)["ETag"]
e2 = s3.upload_part(Bucket=B, Key="manual.bin", UploadId=up, PartNumber=2, Body=b"tail")["ETag"]
lp = s3.list_parts(Bucket=B, Key="manual.bin", UploadId=up)
assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in lp["Parts"]] == [(1, len(p1), e1), (2, 4, e2)], lp["Parts"]
lp = s3.list_parts(Bucket=B, Key="manual.bin", UploadId=up, MaxParts=1)
assert lp["IsTruncated"] and len(lp["Parts"]) == 1 and lp["NextPartNumberMarker"] == 1
ups = s3.list_multipart_uploads(Bucket=B)["Uploads"]
assert [u["UploadId"] for u in ups] == [up], ups
expect_error("InvalidPart", s3.complete_multipart_upload, Bucket=B, Key="manual.bin", UploadId=up,
             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}]})
expect_error("InvalidPartOrder", s3.complete_multipart_upload, Bucket=B, Key="manual.bin", UploadId=up,
             MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]})
r = s3.complete_multipart_upload(Bucket=B, Key="manual.bin", UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
assert r["ETag"].endswith('-2"'), r
assert s3.get_object(Bucket=B, Key="manual.bin")["Body"].read() == p1 + b"tail"
expect_error("NoSuchUpload", s3.list_parts, Bucket=B, Key="manual.bin", UploadId=up, status=404)
status, got, _ = fetch(f"{EP}/{B}/manual.bin")  # ACL of the upload applies to the object
assert status == 200 and got == p1 + b"tail", status
up = s3.create_multipart_upload(Bucket=B, Key="small-parts.bin")["UploadId"]
ea = s3.upload_part(Bucket=B, Key="small-parts.bin", UploadId=up, PartNumber=1, Body=b"a" * 1000)["ETag"]
eb = s3.upload_part(Bucket=B, Key="small-parts.bin", UploadId=up, PartNumber=2, Body=b"b" * 1000)["ETag"]
expect_error("EntityTooSmall", s3.complete_multipart_upload, Bucket=B, Key="small-parts.bin", UploadId=up,
             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": ea}, {"PartNumber": 2, "ETag": eb}]})
s3.abort_multipart_upload(Bucket=B, Key="small-parts.bin", UploadId=up)
time.sleep(1.1)  # the same abort again: a new second, a new signature (else a replay)
expect_error("NoSuchUpload", s3.abort_multipart_upload, Bucket=B, Key="small-parts.bin", UploadId=up)
expect_error("404", s3.head_object, Bucket=B, Key="small-parts.bin")
assert "Uploads" not in s3.list_multipart_uploads(Bucket=B)

step("ranged GETs: closed, open, suffix, unsatisfiable; download_file by ranges")
r = s3.get_object(Bucket=B, Key="big.qcow2", Range="bytes=0-9")
assert r["ContentRange"] == f"bytes 0-9/{len(big)}" and r["Body"].read() == big[:10]
assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
r = s3.get_object(Bucket=B, Key="big.qcow2", Range="bytes=-5")
assert r["Body"].read() == big[-5:] and r["ContentLength"] == 5
r = s3.get_object(Bucket=B, Key="big.qcow2", Range=f"bytes={len(big) - 100}-")
assert r["Body"].read() == big[-100:]
r = s3.get_object(Bucket=B, Key="big.qcow2", Range=f"bytes=5000000-5000000")
assert r["Body"].read() == big[5000000:5000001]
e = expect_error("InvalidRange", s3.get_object, Bucket=B, Key="big.qcow2", Range=f"bytes={len(big)}-", status=416)
dl = os.path.join(TMP, "big.out")
s3.download_file(B, "big.qcow2", dl, Config=TransferConfig(multipart_threshold=4 * MiB, multipart_chunksize=4 * MiB))
with open(dl, "rb") as f:
    assert f.read() == big
expect_error("PreconditionFailed", s3.get_object, Bucket=B, Key="big.qcow2", IfMatch='"0123"', status=412)
expect_error("304", s3.get_object, Bucket=B, Key="big.qcow2", IfNoneMatch=f'"{want_etag}"')

step("ListObjectsV2: prefix, delimiter, max-keys, continuation tokens, odd keys")
keys = ["list/a", "list/b/1", "list/b/2", "list/c", "list/d/1", "list/e", "list/sp ace+plus%25é"]
for k in keys:
    s3.put_object(Bucket=B, Key=k, Body=k.encode())
r = s3.list_objects_v2(Bucket=B, Prefix="list/", Delimiter="/")
assert [c["Key"] for c in r["Contents"]] == ["list/a", "list/c", "list/e", "list/sp ace+plus%25é"], r["Contents"]
assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["list/b/", "list/d/"], r["CommonPrefixes"]
assert r["KeyCount"] == 6 and not r["IsTruncated"]
seen, token, pages = [], None, 0
while True:
    kw = {"ContinuationToken": token} if token else {}
    r = s3.list_objects_v2(Bucket=B, Prefix="list/", MaxKeys=2, **kw)
    pages += 1
    seen += [c["Key"] for c in r.get("Contents", [])]
    assert len(r.get("Contents", [])) <= 2
    if not r["IsTruncated"]:
        break
    token = r["NextContinuationToken"]
assert seen == sorted(keys, key=lambda k: k.encode()), seen
assert pages == 4, pages
r = s3.list_objects_v2(Bucket=B, Prefix="list/", StartAfter="list/c")
assert [c["Key"] for c in r["Contents"]] == ["list/d/1", "list/e", "list/sp ace+plus%25é"]
pag = s3.get_paginator("list_objects_v2")
grouped = []
for page in pag.paginate(Bucket=B, Prefix="list/", Delimiter="/", PaginationConfig={"PageSize": 1}):
    grouped += [c["Key"] for c in page.get("Contents", [])] + [p["Prefix"] for p in page.get("CommonPrefixes", [])]
assert sorted(grouped) == sorted(["list/a", "list/b/", "list/c", "list/d/", "list/e", "list/sp ace+plus%25é"]), grouped
assert s3.get_object(Bucket=B, Key="list/sp ace+plus%25é")["Body"].read() == "list/sp ace+plus%25é".encode()
v1 = s3.list_objects(Bucket=B, Prefix="list/", Delimiter="/", MaxKeys=3)
assert v1["IsTruncated"] and v1["NextMarker"] == "list/c", v1.get("NextMarker")

step("presigned GET with urllib: works, tampered -> 403, expired -> 403")
url = s3.generate_presigned_url("get_object", Params={"Bucket": B, "Key": "dir/small.bin"}, ExpiresIn=600)
status, got, hdrs = fetch(url)
assert status == 200 and got == data, status
status, got, _ = fetch(url, {"Range": "bytes=10-19"})
assert status == 206 and got == data[10:20]
sig = url.rsplit("X-Amz-Signature=", 1)[1]
bad = url.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
status, got, _ = fetch(bad)
assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in got, (status, got)
status, got, _ = fetch(url.replace("dir/small.bin", "dir/sha.bin"))  # another key, same signature
assert status == 403 and b"SignatureDoesNotMatch" in got
short = s3.generate_presigned_url("get_object", Params={"Bucket": B, "Key": "dir/small.bin"}, ExpiresIn=1)
time.sleep(2.1)
status, got, _ = fetch(short)
assert status == 403 and b"<Code>AccessDenied</Code>" in got and b"Request has expired" in got, (status, got)
nokey = client("AKIDNOSUCHKEY000000000000000000000000", SKEY)
status, got, _ = fetch(nokey.generate_presigned_url("get_object", Params={"Bucket": B, "Key": "dir/small.bin"}))
assert status == 403 and b"InvalidAccessKeyId" in got, got
status, got, _ = fetch(f"{EP}/{B}/dir/small.bin")  # anonymous, private
assert status == 403 and b"AccessDenied" in got, (status, got)

step("SigV2 (botocore's 's3' signer, issue 15 item 3): header auth and query-string links")
v2 = boto3.client("s3", endpoint_url=EP, aws_access_key_id=SID, aws_secret_access_key=SKEY, region_name=REGION,
                  config=Config(signature_version="s3", s3={"addressing_style": "path"},
                                retries={"max_attempts": 1, "mode": "standard"}))
v2.put_object(Bucket=B, Key="v2/obj.bin", Body=b"signed with SigV2", ContentType="application/x-test",
              Metadata={"who": "v2"})
got = v2.get_object(Bucket=B, Key="v2/obj.bin")
assert got["Body"].read() == b"signed with SigV2" and got["Metadata"] == {"who": "v2"}, got
assert [o["Key"] for o in v2.list_objects_v2(Bucket=B, Prefix="v2/")["Contents"]] == ["v2/obj.bin"]
v2_bad = boto3.client("s3", endpoint_url=EP, aws_access_key_id=SID, aws_secret_access_key=SKEY + "x",
                      region_name=REGION, config=Config(signature_version="s3", s3={"addressing_style": "path"},
                                                         retries={"max_attempts": 1, "mode": "standard"}))
expect_error("SignatureDoesNotMatch", v2_bad.get_object, Bucket=B, Key="v2/obj.bin", status=403)
url = v2.generate_presigned_url("get_object", Params={"Bucket": B, "Key": "v2/obj.bin"}, ExpiresIn=600)
assert "AWSAccessKeyId=" in url and "Signature=" in url and "Expires=" in url, url
status, got, _ = fetch(url)
assert status == 200 and got == b"signed with SigV2", (status, got)
status, got, _ = fetch(url.replace("v2/obj.bin", "dir/small.bin"))  # another key, same signature
assert status == 403 and b"SignatureDoesNotMatch" in got, (status, got)
short = v2.generate_presigned_url("get_object", Params={"Bucket": B, "Key": "v2/obj.bin"}, ExpiresIn=1)
time.sleep(2.1)
status, got, _ = fetch(short)
assert status == 403 and b"Request has expired" in got, (status, got)
v2.delete_object(Bucket=B, Key="v2/obj.bin")

step("ACLs: public-read objects and buckets are readable anonymously, nothing else")
s3.put_object_acl(Bucket=B, Key="dir/small.bin", ACL="public-read")
status, got, _ = fetch(f"{EP}/{B}/dir/small.bin")
assert status == 200 and got == data
grants = s3.get_object_acl(Bucket=B, Key="dir/small.bin")["Grants"]
assert any(g["Grantee"].get("URI", "").endswith("/AllUsers") and g["Permission"] == "READ" for g in grants), grants
s3.put_object_acl(Bucket=B, Key="dir/small.bin", ACL="private")
assert fetch(f"{EP}/{B}/dir/small.bin")[0] == 403
expect_error("InvalidArgument", s3.put_object, Bucket=B, Key="rw", Body=b"x", ACL="public-read-write")
PUB = f"pub-{APP}"
s3.create_bucket(Bucket=PUB, ACL="public-read")
s3.put_object(Bucket=PUB, Key="open.txt", Body=b"open")
s3.put_object(Bucket=PUB, Key="closed.txt", Body=b"closed", ACL="private")
assert fetch(f"{EP}/{PUB}/open.txt")[:2] == (200, b"open")
assert fetch(f"{EP}/{PUB}/closed.txt")[0] == 403
assert fetch(f"{EP}/{PUB}/missing.txt")[0] == 404
status, got, _ = fetch(f"{EP}/{PUB}?list-type=2")
assert status == 200 and b"<Key>open.txt</Key>" in got
assert fetch(f"{EP}/{B}?list-type=2")[0] == 403
s3.put_bucket_acl(Bucket=PUB, ACL="private")
assert fetch(f"{EP}/{PUB}/open.txt")[0] == 403
assert not any(g["Grantee"].get("URI") for g in s3.get_bucket_acl(Bucket=PUB)["Grants"])

step("tenants: B sees and touches none of A's buckets and objects")
s3b = client(SID2, SKEY2)
assert [b["Name"] for b in s3b.list_buckets()["Buckets"]] == []
expect_error("403", s3b.head_bucket, Bucket=B)
expect_error("AccessDenied", s3b.get_object, Bucket=B, Key="big.qcow2")
for _ in range(20):
    # botocore sends PutObject with Expect: 100-continue and, refused, no body; the
    # DELETE that follows on the same connection must arrive whole (it once lost its
    # first byte to the unsent body: SignatureDoesNotMatch for "ELETE").
    expect_error("AccessDenied", s3b.put_object, Bucket=B, Key="intruder", Body=b"x")
    expect_error("AccessDenied", s3b.delete_object, Bucket=B, Key="big.qcow2")
expect_error("AccessDenied", s3b.list_objects_v2, Bucket=B)
expect_error("BucketAlreadyExists", s3b.create_bucket, Bucket="plain-name-bucket")
status, _, _ = fetch(s3b.generate_presigned_url("get_object", Params={"Bucket": B, "Key": "big.qcow2"}))
assert status == 403

step("wrong secret -> SignatureDoesNotMatch, unknown SecretId -> InvalidAccessKeyId")
expect_error("SignatureDoesNotMatch", client(SID, SKEY + "x").list_buckets, status=403)
expect_error("InvalidAccessKeyId", client("AKIDNOSUCHKEY000000000000000000000000", SKEY).list_buckets, status=403)
expect_error("SignatureDoesNotMatch", client(SID, SKEY + "x").put_object, Bucket=B, Key="x", Body=os.urandom(100000))

step("DeleteObject, DeleteObjects, DeleteBucket")
s3.delete_object(Bucket=B, Key="dir/small.bin")
expect_error("NoSuchKey", s3.get_object, Bucket=B, Key="dir/small.bin", status=404)
time.sleep(1.1)  # the same DELETE again: a new second, a new signature (else a replay)
s3.delete_object(Bucket=B, Key="dir/small.bin")  # again: still 204
status, _, _ = fetch(url)  # the presigned URL of a deleted object
assert status == 404, status
expect_error("BucketNotEmpty", s3.delete_bucket, Bucket=PUB, status=409)
r = s3.delete_objects(Bucket=PUB, Delete={"Objects": [{"Key": "open.txt"}, {"Key": "closed.txt"}]})
assert sorted(d["Key"] for d in r["Deleted"]) == ["closed.txt", "open.txt"], r
s3.delete_bucket(Bucket=PUB)
expect_error("404", s3.head_bucket, Bucket=PUB)

step("a mostly-zero raw image (single PUT and multipart) reads back byte for byte")
SPARSE_SIZE = 32 * MiB + 12345  # the Rust side finds these blobs by this size
sparse = bytearray(SPARSE_SIZE)
sparse[:4096] = os.urandom(4096)
sparse[17 * MiB:17 * MiB + 100] = b"x" * 100
sparse[-7:] = b"the end"
sparse = bytes(sparse)
s3.put_object(Bucket=B, Key="sparse-single.raw", Body=sparse)
sparse_path = os.path.join(TMP, "sparse.raw")
with open(sparse_path, "wb") as f:
    f.write(sparse)
s3.upload_file(sparse_path, B, "sparse-multi.raw",
               Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB))
for key in ("sparse-single.raw", "sparse-multi.raw"):
    got = s3.get_object(Bucket=B, Key=key)["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(sparse).digest(), key
print("OK boto3")
