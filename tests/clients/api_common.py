"""Helpers of the API client tests (crates/service/tests/api_*.rs): the real
tencentcloud-sdk-python (CommonClient, typed CvmClient), tccli, boto3, and a raw
TC3-HMAC-SHA256 signer written from Tencent's "Signature v3" document, used to send
requests the SDK cannot (tampered, unsigned headers, other versions).
"""
import datetime
import hashlib
import hmac
import json
import os
import subprocess
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


class Env:
    """The server under test (JSON from the Rust side)."""

    def __init__(self, cfg):
        self.api = cfg["api"]
        self.storage = cfg["storage"]
        self.sid = cfg["secret_id"]
        self.skey = cfg["secret_key"]
        self.app_id = cfg["app_id"]
        self.data = cfg["data"]
        self.imgport_bin = cfg["imgport"]
        self.region = cfg.get("region", "ap-guangzhou")
        # The port the server's webhook allow-list names (0: none).
        self.hook_port = cfg.get("hook_port", 0)

    def profile(self):
        return ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=self.api, reqTimeout=60))

    def client(self, sid=None, key=None, region=None):
        cred = credential.Credential(sid or self.sid, key or self.skey)
        return CommonClient("cvm", "2017-03-12", cred, region or self.region, profile=self.profile())

    def call(self, action, params=None, **kw):
        return self.client(**kw).call_json(action, params or {})["Response"]

    def expect_error(self, code, action, params=None, **kw):
        try:
            r = self.call(action, params, **kw)
        except TencentCloudSDKException as e:
            assert e.code == code, f"{action}: expected {code}, got {e.code}: {e.message}"
            return e.message
        raise AssertionError(f"{action}: expected {code}, got success {r}")

    def s3(self, sid=None, key=None):
        return boto3.client(
            "s3",
            endpoint_url=f"http://{self.storage}",
            aws_access_key_id=sid or self.sid,
            aws_secret_access_key=key or self.skey,
            region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
        )

    def upload(self, s3, bucket, key, path, expires=3600):
        """Upload `path` and return a presigned GET URL for it."""
        s3.upload_file(path, bucket, key)
        return s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires)

    def imgport(self, *args):
        p = subprocess.run([self.imgport_bin, *args, "--data-dir", self.data], capture_output=True, text=True)
        assert p.returncode == 0, f"imgport {args}: {p.stderr}"
        return json.loads(p.stdout)

    def wait_images(self, ids, limit=180):
        """Poll DescribeImages until none of `ids` is IMPORTING; returns them by id."""
        deadline = time.time() + limit
        while True:
            got = {i["ImageId"]: i for i in self.call("DescribeImages", {"ImageIds": ids, "Limit": 100})["ImageSet"]}
            assert set(got) == set(ids), (ids, list(got))
            if all(i["ImageState"] != "IMPORTING" for i in got.values()):
                return got
            assert time.time() < deadline, {k: (v["ImageState"], v["ImportPhase"], v["ImportProgress"]) for k, v in got.items()}
            time.sleep(0.5)

    def get(self, path):
        return urllib.request.urlopen(f"http://{self.api}{path}", timeout=10).read()


def _hmac(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def tc3_headers(sid, key, host, action, body, timestamp=None, region="ap-guangzhou", version="2017-03-12",
                signed=("content-type", "host"), content_type="application/json; charset=utf-8", service="cvm",
                scope_date=None):
    """Headers of a TC3-HMAC-SHA256 request, following the document step by step."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    date = scope_date or datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime("%Y-%m-%d")
    headers = {"content-type": content_type, "host": host, "x-tc-action": action.lower()}
    canonical_headers = "".join(f"{h}:{headers[h].strip().lower()}\n" for h in signed)
    signed_headers = ";".join(signed)
    canonical_request = "\n".join(["POST", "/", "", canonical_headers, signed_headers,
                                   hashlib.sha256(body).hexdigest()])
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(["TC3-HMAC-SHA256", str(timestamp), scope,
                                hashlib.sha256(canonical_request.encode()).hexdigest()])
    k = _hmac(("TC3" + key).encode(), date)
    k = _hmac(k, service)
    k = _hmac(k, "tc3_request")
    signature = hmac.new(k, string_to_sign.encode(), hashlib.sha256).hexdigest()
    out = {
        "Authorization": f"TC3-HMAC-SHA256 Credential={sid}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        "Content-Type": content_type,
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Timestamp": str(timestamp),
        "X-TC-Version": version,
    }
    if region is not None:
        out["X-TC-Region"] = region
    return out


def raw_post(env, headers, body):
    """POST / with exactly these headers and body; returns (status, content-type, JSON)."""
    req = urllib.request.Request(f"http://{env.api}/", data=body, headers=headers, method="POST")
    try:
        r = urllib.request.urlopen(req, timeout=30)
    except urllib.error.HTTPError as e:
        r = e
    return r.status, r.headers.get("Content-Type", ""), json.loads(r.read())


_T0 = time.time()


def step(msg):
    print(f"-- [{time.time() - _T0:6.1f}s] {msg}", flush=True)


def tccli(env, home, *args, ok=True):
    """The real tccli with a HOME configured by `tccli configure`."""
    p = subprocess.run(["tccli", *args], capture_output=True, text=True, env=dict(os.environ, HOME=home))
    if ok:
        assert p.returncode == 0, f"tccli {args}: {p.stdout} {p.stderr}"
        return json.loads(p.stdout) if p.stdout.strip().startswith("{") else p.stdout
    return p
