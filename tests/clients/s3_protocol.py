"""Wire-level uploads boto3 does not make over plain HTTP (crates/service/tests/s3_protocol.rs):
aws-chunked bodies with chunk signatures (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), with a
signed trailer (…-PAYLOAD-TRAILER) and unsigned with a checksum trailer
(STREAMING-UNSIGNED-PAYLOAD-TRAILER), UNSIGNED-PAYLOAD, a lying x-amz-content-sha256,
and Expect: 100-continue on a raw socket.

The request head is signed by botocore's SigV4Auth (the reference signer); the chunk
and trailer signatures are computed here from AWS's published algorithm
(sigv4-streaming.html, sigv4-streaming-trailers.html), independently of the server.
"""
import base64
import hashlib
import hmac
import http.client
import os
import socket
import urllib.parse
import zlib

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

EP = os.environ["S3_ENDPOINT"]
SID, SKEY, APP = os.environ["S3_SID"], os.environ["S3_SKEY"], os.environ["S3_APPID"]
REGION = os.environ["S3_REGION"]
HOSTPORT = urllib.parse.urlsplit(EP).netloc
EMPTY = hashlib.sha256(b"").hexdigest()

s3 = boto3.client("s3", endpoint_url=EP, aws_access_key_id=SID, aws_secret_access_key=SKEY,
                  region_name=REGION, config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
B = f"wire-{APP}"
s3.create_bucket(Bucket=B)


def step(msg):
    print(f"== {msg}", flush=True)


def signed_head(method, key, headers, content_sha256, secret=SKEY):
    """Headers of a request signed by botocore with x-amz-content-sha256 preset."""
    req = AWSRequest(method=method, url=f"{EP}/{B}/{urllib.parse.quote(key)}",
                     headers={**headers, "X-Amz-Content-SHA256": content_sha256})
    SigV4Auth(Credentials(SID, secret), "s3", REGION).add_auth(req)
    return dict(req.headers.items())


def seed_of(headers):
    auth = headers["Authorization"]
    return auth.rsplit("Signature=", 1)[1].strip()


def signing_key(date):
    k = hmac.new(("AWS4" + SKEY).encode(), date.encode(), hashlib.sha256).digest()
    for part in (REGION, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def chunked_body(payload, headers, chunk=64 * 1024, signed=True, trailer=None, corrupt=None):
    """aws-chunked framing of payload; trailer = (name, value) or None."""
    amz_date = headers["X-Amz-Date"]
    scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
    key = signing_key(amz_date[:8])
    prev = seed_of(headers) if signed else None
    out = bytearray()
    pieces = [payload[i:i + chunk] for i in range(0, len(payload), chunk)] + [b""]
    for n, piece in enumerate(pieces):
        if signed:
            sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev, EMPTY,
                             hashlib.sha256(piece).hexdigest()])
            prev = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
            sig = prev
            if corrupt == "signature" and n == 1:
                sig = "0" * 64
            out += f"{len(piece):x};chunk-signature={sig}\r\n".encode()
        else:
            out += f"{len(piece):x}\r\n".encode()
        data = piece
        if corrupt == "data" and n == 0:
            data = bytes([piece[0] ^ 1]) + piece[1:]
        out += data
        if piece or trailer is None:
            out += b"\r\n"
    if trailer is not None:
        name, value = trailer
        out += f"{name}:{value}\r\n".encode()
        if signed:
            canonical = f"{name}:{value}\n"
            sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", amz_date, scope, prev,
                             hashlib.sha256(canonical.encode()).hexdigest()])
            tsig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
            if corrupt == "trailer-signature":
                tsig = "f" * 64
            out += f"x-amz-trailer-signature:{tsig}\r\n".encode()
        out += b"\r\n"
    return bytes(out)


def send(method, key, headers, body):
    c = http.client.HTTPConnection(HOSTPORT, timeout=30)
    c.putrequest(method, f"/{B}/{urllib.parse.quote(key)}", skip_host=True, skip_accept_encoding=True)
    for k, v in headers.items():
        c.putheader(k, v)
    c.endheaders()
    c.send(body)
    r = c.getresponse()
    out = (r.status, r.read())
    c.close()
    return out


def crc32(d):
    return base64.b64encode((zlib.crc32(d) & 0xFFFFFFFF).to_bytes(4, "big")).decode()


def exists(key):
    try:
        s3.head_object(Bucket=B, Key=key)
        return True
    except ClientError:
        return False


payload = os.urandom(200_000)


def streaming_put(key, mode, corrupt=None, trailer_value=None):
    signed = mode != "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    trailer = mode.endswith("TRAILER")
    # The framed length depends only on sizes, so frame once with a dummy head to
    # learn Content-Length, which is itself signed.
    dummy = {"X-Amz-Date": "20000101T000000Z", "Authorization": "Signature=" + "0" * 64}
    tr = ("x-amz-checksum-crc32", trailer_value or crc32(payload)) if trailer else None
    length = len(chunked_body(payload, dummy, signed=signed, trailer=tr))
    head = {
        "Host": HOSTPORT,
        "Content-Encoding": "aws-chunked",
        "Content-Length": str(length),
        "x-amz-decoded-content-length": str(len(payload)),
    }
    if trailer:
        head["x-amz-trailer"] = "x-amz-checksum-crc32"
    headers = signed_head("PUT", key, head, mode)
    body = chunked_body(payload, headers, signed=signed, trailer=tr, corrupt=corrupt)
    assert len(body) == length
    return send("PUT", key, headers, body)


step("STREAMING-AWS4-HMAC-SHA256-PAYLOAD: every chunk signature verified")
status, body = streaming_put("signed.bin", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
assert status == 200, (status, body)
assert s3.get_object(Bucket=B, Key="signed.bin")["Body"].read() == payload
h = s3.head_object(Bucket=B, Key="signed.bin")
assert h["ETag"] == f'"{hashlib.md5(payload).hexdigest()}"' and h["ContentLength"] == len(payload)
assert "ContentEncoding" not in h, h  # aws-chunked is framing, not stored
for corrupt in ("signature", "data"):
    status, body = streaming_put(f"bad-{corrupt}.bin", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", corrupt=corrupt)
    assert status == 403 and b"SignatureDoesNotMatch" in body, (corrupt, status, body)
    assert not exists(f"bad-{corrupt}.bin")

step("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: signed crc32 trailer")
status, body = streaming_put("trailer.bin", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
assert status == 200, (status, body)
assert s3.get_object(Bucket=B, Key="trailer.bin")["Body"].read() == payload
status, body = streaming_put("trailer-bad.bin", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", corrupt="trailer-signature")
assert status == 403 and b"SignatureDoesNotMatch" in body, (status, body)
status, body = streaming_put("trailer-crc.bin", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", trailer_value="AAAAAA==")
assert status == 400 and b"BadDigest" in body, (status, body)
assert not exists("trailer-bad.bin") and not exists("trailer-crc.bin")

step("STREAMING-UNSIGNED-PAYLOAD-TRAILER: crc32 trailer checked")
status, body = streaming_put("unsigned-trailer.bin", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
assert status == 200, (status, body)
assert s3.get_object(Bucket=B, Key="unsigned-trailer.bin")["Body"].read() == payload
status, body = streaming_put("unsigned-bad.bin", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", trailer_value="AAAAAA==")
assert status == 400 and b"BadDigest" in body, (status, body)

step("UNSIGNED-PAYLOAD and a lying x-amz-content-sha256")
data = b"unsigned payload"
headers = signed_head("PUT", "unsigned.bin", {"Host": HOSTPORT, "Content-Length": str(len(data))}, "UNSIGNED-PAYLOAD")
assert send("PUT", "unsigned.bin", headers, data)[0] == 200
assert s3.get_object(Bucket=B, Key="unsigned.bin")["Body"].read() == data
headers = signed_head("PUT", "liar.bin", {"Host": HOSTPORT, "Content-Length": str(len(data))},
                      hashlib.sha256(b"something else").hexdigest())
status, body = send("PUT", "liar.bin", headers, data)
assert status == 400 and b"XAmzContentSHA256Mismatch" in body, (status, body)
assert not exists("liar.bin")
headers = signed_head("PUT", "nohash.bin", {"Host": HOSTPORT, "Content-Length": "1"}, "UNSIGNED-PAYLOAD")
del headers["X-Amz-Content-SHA256"]
status, body = send("PUT", "nohash.bin", headers, b"x")
assert status == 400, (status, body)


def raw_expect(key, secret, body):
    """PUT with Expect: 100-continue on a raw socket, sending the body only after a 100:
    (interim status or None, final status, whether the server then closed the connection)."""
    headers = signed_head("PUT", key, {"Host": HOSTPORT, "Content-Length": str(len(body))},
                          hashlib.sha256(body).hexdigest(), secret=secret)
    s = socket.create_connection(tuple(HOSTPORT.rsplit(":", 1)[0:1]) + (int(HOSTPORT.rsplit(":", 1)[1]),), timeout=10)
    lines = [f"PUT /{B}/{key} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()] + ["Expect: 100-continue", "", ""]
    s.sendall("\r\n".join(lines).encode())
    f = s.makefile("rb")
    first = f.readline().decode()
    interim = None
    if " 100 " in first:
        interim = 100
        while f.readline() not in (b"\r\n", b""):
            pass
        s.sendall(body)
        first = f.readline().decode()
    head = []
    while (line := f.readline()) not in (b"\r\n", b""):
        head.append(line.decode().strip().lower())
    length = next((int(h.split(":", 1)[1]) for h in head if h.startswith("content-length:")), 0)
    f.read(length)
    # The next request's bytes must not be taken for the unsent body: the server
    # closes (says so, and does), or it has read the whole body.
    s.settimeout(3)
    try:
        closed = "connection: close" in head and f.read(1) == b""
    except socket.timeout:
        closed = False
    s.close()
    return interim, int(first.split()[1]), closed


step("Expect: 100-continue: 100 only once the signature is accepted")
assert raw_expect("expect.bin", SKEY, b"continued body") == (100, 200, False)
assert s3.get_object(Bucket=B, Key="expect.bin")["Body"].read() == b"continued body"
step("Expect: 100-continue refused before the body: the connection closes (else a client that")
step("  sends no body has its next request's first bytes taken for it: 'ELETE')")
assert raw_expect("expect-denied.bin", SKEY + "x", b"never sent") == (None, 403, True)
assert not exists("expect-denied.bin")
print("OK protocol")
