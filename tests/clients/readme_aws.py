"""The README's walkthrough commands, as written (issue 15 item 3): the ```sh block of
"The import service" section runs under bash with the aws CLI from PyPI — `s3 mb`, `s3 cp`
and `s3 presign` without `--region`, which makes a SigV2 link (AWSAccessKeyId, Expires,
Signature) — with only its placeholders filled in (keys, APPID, the storage port); the
link is then imported with tencentcloud-sdk-python as the README's Python block does, and
the image ends NORMAL.

usage: readme_aws.py SERVER_JSON README IMAGE
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

from api_common import Env

env = Env(json.loads(sys.argv[1]))
readme = open(sys.argv[2], encoding="utf-8").read()
image = sys.argv[3]
section = readme[readme.index("## The import service"):]
block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
lines = [l for l in block.splitlines() if not l.startswith("cargo run")]
script = "\n".join(lines)
# Only the placeholders change.
script = (script.replace("http://127.0.0.1:9001", f"http://{env.storage}")
          .replace("images-APPID", f"images-{env.app_id}")
          .replace("AWS_ACCESS_KEY_ID=AKID…", f"AWS_ACCESS_KEY_ID={env.sid}")
          .replace("AWS_SECRET_ACCESS_KEY=…", f"AWS_SECRET_ACCESS_KEY={env.skey}"))
assert "…" not in script and "APPID" not in script, script
work = tempfile.mkdtemp()
shutil.copy(image, os.path.join(work, "disk.qcow2"))
home = os.path.join(work, "home")
os.mkdir(home)
venv_bin = os.path.dirname(sys.executable)
p = subprocess.run(["bash", "-euo", "pipefail", "-c", script + '\necho "URL=$URL"'], cwd=work,
                   capture_output=True, text=True, timeout=300,
                   env={"HOME": home, "PATH": venv_bin + ":" + os.environ["PATH"]})
assert p.returncode == 0, f"the README's commands failed:\n{script}\n--- stdout\n{p.stdout}\n--- stderr\n{p.stderr}"
url = [l for l in p.stdout.splitlines() if l.startswith("URL=")][-1][4:]
q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
# What `aws s3 presign` makes without a region: a SigV2 link.
assert {"AWSAccessKeyId", "Expires", "Signature"} <= set(q), url
dry = env.call("ImportImage", {"ImageUrl": url, "ImageName": "web-01", "DryRun": True})
assert dry["Importable"] is True, dry
d = dry["Detected"]
image_id = env.call("ImportImage", {"ImageUrl": url, "ImageName": "web-01", **d})["ImageId"]
got = env.wait_images([image_id])[image_id]
assert got["ImageState"] == "NORMAL", got
# The SigV2 link imports once, like any signed link; a forged one is refused.
msg = env.expect_error("InvalidUrl", "ImportImage", {"ImageUrl": url, "ImageName": "again", **d})
assert "already used" in msg, msg
forged = url.replace("Signature=", "Signature=AAAA")
msg = env.expect_error("InvalidUrl", "ImportImage", {"ImageUrl": forged, "ImageName": "forged", **d})
print(json.dumps({"url": url.split("?")[0], "image": image_id}))
