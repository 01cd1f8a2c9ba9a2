"""Upload one image with boto3 (multipart) and import it with tencentcloud-sdk-python;
print the ImageId. Used by crates/service/tests/api_restart.rs.

usage: api_upload_import.py SERVER_JSON IMAGE NAME
"""
import json
import sys

from boto3.s3.transfer import TransferConfig

from api_common import Env

env = Env(json.loads(sys.argv[1]))
path, name = sys.argv[2], sys.argv[3]
s3 = env.s3()
bucket = f"restart-{env.app_id}"
if bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": env.region})
s3.upload_file(path, bucket, name, Config=TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=64 << 20))
url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": name}, ExpiresIn=3600)
r = env.call("ImportImage", {"ImageUrl": url, "ImageName": name, "OsType": "CentOS", "OsVersion": "7",
                             "Architecture": "x86_64"})
print(r["ImageId"], flush=True)
