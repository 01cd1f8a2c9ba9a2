"""Hostile requests against `imgport serve` made from what the real clients send
(issue 18 items 1, 2, 5). Run by crates/service/tests/hostile_api.rs.

- Replays: requests captured from tencentcloud-sdk-python (which signs only
  content-type;host), boto3 and cos-python-sdk-v5 are sent again — as they were, as
  another action, for another region — and must be refused; read-only requests may
  come again; the clients' own flows keep working.
- Regions: a SigV4 signature scoped to another region than the bucket's is refused
  (header and presigned), as S3 does; boto3 learns the region from the refusal.
- Webhooks: every spelling of a loopback port off the operator's allow-list is
  refused at registration; with the default configuration every webhook is.

usage: hostile_api.py SERVER_JSON DEFAULT_SERVER_JSON
"""
import hashlib
import http.client
import json
import sys
import traceback
import time
import xml.etree.ElementTree as ET

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import requests
from botocore.config import Config
from qcloud_cos import CosConfig, CosS3Client
from tencentcloud.common.http import request as tc_request

from api_common import Env, raw_post, step, tc3_headers

cfg = json.loads(sys.argv[1])
env = Env(cfg)
env2 = Env(json.loads(sys.argv[2]))
NO_PROXY = requests.Session()
NO_PROXY.trust_env = False
FORM = {"Architecture": "x86_64", "OsType": "CentOS", "OsVersion": "7"}

# ---- what the SDK sends, captured -----------------------------------------------------
captured = []
_send = tc_request.ApiRequest.send_request


def _capture(self, req):
    captured.append({"headers": dict(req.header), "data": req.data})
    return _send(self, req)


tc_request.ApiRequest.send_request = _capture


def sdk(action, params):
    """Call `action` with the real SDK; returns (response, the request it sent)."""
    captured.clear()
    r = env.call(action, params)
    return r, captured[-1]


def resend(req, **changes):
    """Send a captured SDK request again, with some headers changed."""
    headers = dict(req["headers"])
    headers.update(changes)
    body = req["data"].encode() if isinstance(req["data"], str) else req["data"]
    return raw_post(env, headers, body)[2]["Response"]


def refused_as_replay(resp):
    err = resp.get("Error")
    assert err is not None, f"the replay was accepted: {resp}"
    assert err["Code"] == "AuthFailure.SignatureFailure", err
    assert "already used" in err["Message"] and "sign each request anew" in err["Message"], err


# ---- a victim image ---------------------------------------------------------------------
step("setup: an image (a failed import) to rename and delete")
s3 = env.s3()
bucket = f"hostile-{env.app_id}"
s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": env.region})
url = env.upload(s3, bucket, "junk.raw", cfg["junk"])
img = env.call("ImportImage", {**FORM, "ImageName": "victim", "ImageUrl": url})["ImageId"]
env.wait_images([img])


def image():
    got = env.call("DescribeImages", {"ImageIds": [img]})["ImageSet"]
    return got[0] if got else None


EP = f"http://{env.storage}"
creds = botocore.credentials.Credentials(env.sid, env.skey)


def replay(req):
    body = req.body if isinstance(req.body, (bytes, type(None))) else req.body.read()
    return NO_PROXY.request(req.method, req.url, headers=dict(req.headers), data=body, timeout=30)


def s3_error(r):
    """The elements of an S3 error document."""
    return {e.tag: e.text for e in ET.fromstring(r.content)}


def refused_s3(r):
    assert r.status_code == 403, (r.status_code, r.text)
    e = s3_error(r)
    assert e["Code"] == "AccessDenied" and "already used" in e["Message"], e


def signed(method, path, region, body=b""):
    req = botocore.awsrequest.AWSRequest(method=method, url=f"http://{env.storage}{path}", data=body)
    botocore.auth.S3SigV4Auth(creds, "s3", region).add_auth(req)
    p = req.prepare()
    return NO_PROXY.request(p.method, p.url, headers=dict(p.headers), data=body, timeout=30)


# ---- item 1: TC3 ----------------------------------------------------------------------
def tc3_replays():
    step("TC3: a captured DescribeImages resent as DeleteImages is refused; the image stays")
    r, describe = sdk("DescribeImages", {"ImageIds": [img]})
    assert r["TotalCount"] == 1, r
    refused_as_replay(resend(describe, **{"X-TC-Action": "DeleteImages"}))
    assert image() is not None, "the image was deleted by a replayed signature"
    step("TC3: … or as DeleteImages in another region")
    refused_as_replay(resend(describe, **{"X-TC-Action": "DeleteImages", "X-TC-Region": "ap-shanghai"}))
    step("TC3: a read-only request may come again (documented: it changes nothing)")
    again = resend(describe)
    assert again.get("TotalCount") == 1, again

    step("TC3: an exact replay of ModifyImageAttribute cannot undo a later rename")
    _, first = sdk("ModifyImageAttribute", {"ImageId": img, "ImageName": "first"})
    env.call("ModifyImageAttribute", {"ImageId": img, "ImageName": "second"})
    refused_as_replay(resend(first))
    assert image()["ImageName"] == "second", image()

    step("TC3: a DryRun may be repeated unchanged; the real call is used once")
    _, dry = sdk("DeleteImages", {"ImageIds": [img], "DryRun": True})
    assert "Error" not in resend(dry), "a repeated DryRun was refused"
    # The body {"ImageIds": [img]} was signed for DescribeImages in this second: the same
    # body for DeleteImages would carry the same signature (refused, see the README).
    time.sleep(1.1)
    _, delete = sdk("DeleteImages", {"ImageIds": [img]})
    refused_as_replay(resend(delete))

    step("TC3: a signed X-TC-Action is bound by the signature")
    body = json.dumps({"ImageIds": [img], "Limit": 5}).encode()
    h = tc3_headers(env.sid, env.skey, env.api, "DescribeImages", body, signed=("content-type", "host", "x-tc-action"))
    status, _, got = raw_post(env, {**h, "X-TC-Action": "DeleteImages"}, body)
    assert got["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure", got

    step("TC3: a repeated X-TC-Action header is refused")
    body = json.dumps({"ImageIds": [img], "Limit": 7}).encode()
    h = tc3_headers(env.sid, env.skey, env.api, "DescribeImages", body)
    conn = http.client.HTTPConnection(env.api, timeout=30)
    conn.putrequest("POST", "/", skip_host=True, skip_accept_encoding=True)
    for k, v in h.items():
        conn.putheader(k, v)
    conn.putheader("X-TC-Action", "DeleteImages")
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    got = json.loads(conn.getresponse().read())["Response"]
    assert got.get("Error", {}).get("Code") == "AuthFailure.InvalidAuthorization", got
    assert "more than once" in got["Error"]["Message"], got


# ---- item 1: object store ------------------------------------------------------------
def s3_replays():
    step("S3 (boto3): a captured DeleteObject sent again cannot delete the re-uploaded object")
    sent = []
    spy = env.s3()
    spy.meta.events.register("before-send.s3", lambda request, **kw: sent.append(request))


    s3.put_object(Bucket=bucket, Key="k", Body=b"one")
    spy.delete_object(Bucket=bucket, Key="k")
    deleted = sent[-1]
    s3.put_object(Bucket=bucket, Key="k", Body=b"two")
    refused_s3(replay(deleted))
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"

    step("S3 (boto3): a captured PutObjectAcl sent again cannot undo a later one")
    spy.put_object_acl(Bucket=bucket, Key="k", ACL="public-read")
    opened = sent[-1]
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")
    refused_s3(replay(opened))
    grants = s3.get_object_acl(Bucket=bucket, Key="k")["Grants"]
    assert not any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in grants), grants

    step("S3 (boto3): a GET may be replayed")
    spy.get_object(Bucket=bucket, Key="k")["Body"].read()
    r = replay(sent[-1])
    assert r.status_code == 200 and r.content == b"two", r.status_code

    step("COS (cos-python-sdk-v5): a captured DeleteObject sent again is refused")
    cos = CosS3Client(CosConfig(Region=env.region, SecretId=env.sid, SecretKey=env.skey, Scheme="http",
                                Proxies={"http": EP}), retry=1)
    cos_bucket = f"hostilecos-{env.app_id}"
    cos.create_bucket(Bucket=cos_bucket)
    cos.put_object(Bucket=cos_bucket, Key="c", Body=b"one")
    cos_sent = []
    hook = lambda r, *a, **k: cos_sent.append(r.request)  # noqa: E731
    cos._session.hooks["response"].append(hook)
    cos.delete_object(Bucket=cos_bucket, Key="c")
    cos._session.hooks["response"].remove(hook)
    cos_delete = cos_sent[-1]
    # COS signs the length, not the body: a PUT of the same key and length in the same
    # second as "one" would carry its signature (refused, see the README).
    cos.put_object(Bucket=cos_bucket, Key="c", Body=b"second")
    r = requests.Session().send(cos_delete, proxies={"http": EP}, timeout=30)
    refused_s3(r)
    assert cos.get_object(Bucket=cos_bucket, Key="c")["Body"].get_raw_stream().read() == b"second"


# ---- item 2: the region of a SigV4 scope -----------------------------------------------
def scope_regions():
    step("S3: a header signature scoped to us-east-1 for a bucket in ap-guangzhou is refused")


    r = signed("PUT", f"/{bucket}/east", "us-east-1", b"x")
    assert r.status_code == 400, (r.status_code, r.text)
    e = s3_error(r)
    assert e["Code"] == "AuthorizationHeaderMalformed" and "expecting 'ap-guangzhou'" in e["Message"], e
    assert e["Region"] == "ap-guangzhou" and r.headers["x-amz-bucket-region"] == "ap-guangzhou", e
    assert signed("GET", f"/{bucket}/k", "ap-shanghai").status_code == 400
    assert signed("PUT", f"/{bucket}/east", env.region, b"x").status_code == 200
    assert signed("GET", f"/{bucket}?location", "us-east-1").status_code == 200  # as in S3

    step("S3: a presigned URL scoped to us-east-1 is refused, also as an ImageUrl")
    east = boto3.client("s3", endpoint_url=EP, aws_access_key_id=env.sid, aws_secret_access_key=env.skey,
                        region_name="us-east-1", config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
    u = east.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=600)
    r = NO_PROXY.get(u, timeout=30)
    assert r.status_code == 400, (r.status_code, r.text)
    e = s3_error(r)
    assert e["Code"] == "AuthorizationQueryParametersError" and "expecting 'ap-guangzhou'" in e["Message"], e
    msg = env.expect_error("InvalidUrl", "ImportImage", {**FORM, "ImageName": "east", "ImageUrl": u})
    assert "us-east-1" in msg, msg

    step("S3: boto3 configured for another region re-signs for the bucket's region by itself")
    east.put_object(Bucket=bucket, Key="via-redirect", Body=b"r")
    assert east.get_object(Bucket=bucket, Key="via-redirect")["Body"].read() == b"r"
    assert bucket in [b["Name"] for b in east.list_buckets()["Buckets"]]

    step("S3: CreateBucket without a LocationConstraint lands in the signed region, if it is ours")
    sh = boto3.client("s3", endpoint_url=EP, aws_access_key_id=env.sid, aws_secret_access_key=env.skey,
                      region_name="ap-shanghai", config=Config(s3={"addressing_style": "path"}))
    sh.create_bucket(Bucket=f"sh-{env.app_id}")
    assert s3.get_bucket_location(Bucket=f"sh-{env.app_id}")["LocationConstraint"] == "ap-shanghai"
    east.create_bucket(Bucket=f"east-{env.app_id}")
    assert s3.get_bucket_location(Bucket=f"east-{env.app_id}")["LocationConstraint"] == env.region


# ---- item 5: webhooks ---------------------------------------------------------------
def webhooks():
    step("webhooks: only the allow-listed HOST:PORT, in whatever spelling")
    P = cfg["hook_port"]
    api_port = env.api.rsplit(":", 1)[1]
    storage_port = env.storage.rsplit(":", 1)[1]
    for bad in [
        "http://127.0.0.1:22/", "http://127.0.0.1:6379/", f"http://127.0.0.1:{api_port}/",
        f"http://localhost:{storage_port}/", f"http://[::1]:{P}/", "http://[::1]:22/",
        "http://0x7f000001:22/", "http://2130706433:6379/", "http://0177.0.0.1:6379/",
        f"http://[::ffff:127.0.0.1]:{api_port}/", "http://127.0.0.1.:22/", "http://localhost.:6379/",
        f"http://user@127.0.0.1:{P}/", f"http://127.0.0.1:{P}@example.com/", "http://169.254.169.254/",
        f"https://127.0.0.1:{P}/", f"http://127.0.0.2:{P}/",
    ]:
        msg = env.expect_error("InvalidParameterValue", "ModifySubscription", {"Subscribed": True, "WebhookUrl": bad})
        assert "WebhookUrl" in msg, (bad, msg)
    assert env.call("DescribeSubscription").get("WebhookUrl") in (None, ""), "a refused webhook was stored"
    for ok in [f"http://127.0.0.1:{P}/hook", f"http://0x7f000001:{P}/hook", f"http://localhost:{P}/h"]:
        env.call("ModifySubscription", {"Subscribed": True, "WebhookUrl": ok})
        assert env.call("DescribeSubscription")["WebhookUrl"] == ok

    step("webhooks: none at all with the default configuration")
    msg = env2.expect_error("InvalidParameterValue", "ModifySubscription",
                            {"Subscribed": True, "WebhookUrl": f"http://127.0.0.1:{P}/hook"})
    assert "disabled" in msg, msg


failed = []
for section in (tc3_replays, s3_replays, scope_regions, webhooks):
    try:
        section()
    except Exception:  # each section reports; the script fails at the end
        traceback.print_exc()
        failed.append(section.__name__)
        print(f"!! FAILED: {section.__name__}", flush=True)
assert not failed, f"failed sections: {failed}"
print("hostile api: all passed", flush=True)
