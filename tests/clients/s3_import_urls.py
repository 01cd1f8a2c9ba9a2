"""Objects and links for the ImportImage URL rules (crates/service/tests/s3_import_url.rs):
uploads with boto3 and prints, as the last line, a JSON map of links made by the real
clients (boto3 presigned, cos-python-sdk-v5 presigned and `sign=`) for the Rust side
to resolve. Environment as for s3_boto3.py.
"""
import json
import os
import urllib.parse

import boto3
from botocore.config import Config
from qcloud_cos import CosConfig, CosS3Client

EP = os.environ["S3_ENDPOINT"]
SID, SKEY, APP = os.environ["S3_SID"], os.environ["S3_SKEY"], os.environ["S3_APPID"]
SID2, SKEY2 = os.environ["S3_SID2"], os.environ["S3_SKEY2"]
REGION = os.environ["S3_REGION"]


def client(sid=SID, skey=SKEY, region=REGION):
    return boto3.client("s3", endpoint_url=EP, aws_access_key_id=sid, aws_secret_access_key=skey,
                        region_name=region, config=Config(s3={"addressing_style": "path"}))


s3 = client()
G, F, S = f"img-{APP}", f"fin-{APP}", f"sh-{APP}"
for bucket, region in [(G, REGION), (F, "ap-shanghai-fsi"), (S, "ap-shanghai")]:
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_object(Bucket=bucket, Key="private.qcow2", Body=b"QFI\xfb" + b"\0" * 1020)
s3.put_object(Bucket=G, Key="public.qcow2", Body=b"public image", ACL="public-read")
s3.put_object(Bucket=G, Key="dir/a b+c.qcow2", Body=b"odd key")


def presign(bucket, key, expires=600, c=s3):
    return c.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires)


cos = CosS3Client(CosConfig(Region=REGION, SecretId=SID, SecretKey=SKEY, Scheme="http", Proxies={"http": EP}))
auth = cos.get_auth(Method="GET", Bucket=G, Key="private.qcow2", Expired=900)
presigned = presign(G, "private.qcow2")
urls = {
    "presigned": presigned,
    "presigned_again": presign(G, "private.qcow2", expires=700),
    "presigned_short": presign(G, "private.qcow2", expires=1),
    "presigned_odd_key": presign(G, "dir/a b+c.qcow2"),
    "presigned_missing": presign(G, "missing.qcow2"),
    "presigned_other_tenant": presign(G, "private.qcow2", c=client(SID2, SKEY2)),
    # Presigned for the bucket's region (another region's scope is refused, issue 18).
    "presigned_fsi": presign(F, "private.qcow2", c=client(region="ap-shanghai-fsi")),
    "presigned_shanghai": presign(S, "private.qcow2", c=client(region="ap-shanghai")),
    "tampered": presigned[:-1] + ("0" if presigned[-1] != "0" else "1"),
    "cos": cos.get_presigned_url(Bucket=G, Key="private.qcow2", Method="GET", Expired=600),
    "cos_sign_param": f"http://{G}.cos.{REGION}.myqcloud.com/private.qcow2?sign=" + urllib.parse.quote(auth, safe=""),
    "public": f"{EP}/{G}/public.qcow2",
    "private": f"{EP}/{G}/private.qcow2",
    "missing": f"{EP}/{G}/missing.qcow2",
}
print(json.dumps(urls))
