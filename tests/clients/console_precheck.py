"""The in-browser pre-check (issue 15 item 1), run by crates/cli/tests/console_precheck.rs.

Playwright drives Debian's Chromium (headless, no sandbox, nothing downloaded) against
this build's `imgport serve`: sign in, create a bucket, then for each image given,
choose it in the upload form as a user does. The console checks the local file in a
Web Worker with the WebAssembly build of the check crates (File.slice range reads) and
shows the verdict; the test reads the report the page shows and compares it with
`imgport check --json` of the same file: the same JSON but for what describes the run
(source name, elapsed time, bytes read) — and, for a raw image with holes, the
measure, which counts the holes a browser cannot see (as over HTTP), flagged. Also: the progress bar moved through the
phases, the upload button says what the check found, and "upload anyway" uploads a
refused image.

usage: console_precheck.py IMGPORT IMAGE...
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from playwright.sync_api import expect, sync_playwright
from serve_banner import read_banner

IMGPORT, IMAGES = sys.argv[1], sys.argv[2:]
CHROMIUM = "/usr/bin/chromium"
REGION = "ap-guangzhou"
T0 = time.monotonic()


def step(msg):
    print(f"-- [{time.monotonic() - T0:6.1f} s] {msg}", flush=True)


# What describes the run, not the image: left out of the comparison.
RUN_KEYS = {"elapsed_ms", "bytes_read"}


def normalized(report):
    def strip(v):
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if k not in RUN_KEYS}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v
    r = strip(report)
    r.pop("source", None)
    return r


def differences(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += differences(a.get(k), b.get(k), f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += differences(x, y, f"{path}[{i}]")
        return out
    return [] if a == b else [f"{path}: cli {json.dumps(a)[:300]} != browser {json.dumps(b)[:300]}"]


def cli_check(path):
    out = subprocess.run([IMGPORT, "check", "--json", path], capture_output=True, text=True)
    assert out.returncode in (0, 1), f"imgport check {path}: exit {out.returncode}\n{out.stderr}"
    return json.loads(out.stdout)


data = tempfile.mkdtemp(prefix="imgport-precheck-data-")
server = subprocess.Popen(
    [IMGPORT, "serve", "--listen", "127.0.0.1:0", "--storage-listen", "127.0.0.1:0",
     "--data-dir", data, "--workers", "1", "--region", REGION],
    stdout=subprocess.PIPE, stderr=open(os.path.join(data, "server.log"), "w"), text=True,
)
try:
    API, _, SID, SKEY, APP_ID = read_banner(server)

    page_errors = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"], headless=True)
        page = browser.new_page(viewport={"width": 1366, "height": 860})
        page.on("pageerror", lambda e: page_errors.append(str(e)))
        page.on("console", lambda m: page_errors.append(m.text) if m.type == "error" and "Failed to load resource" not in m.text else None)

        step("sign in, create a bucket")
        page.goto(f"{API}/console/buckets")
        page.get_by_label("SecretId").fill(SID)
        page.get_by_label("SecretKey").fill(SKEY)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("h1")).to_have_text("Buckets and upload")
        page.get_by_label("Bucket name").fill(f"images-{APP_ID}")
        page.get_by_role("button", name=re.compile("^Create")).click()
        expect(page.locator("#upload-file")).to_be_visible(timeout=30000)

        compared = 0
        refused_path = None
        for path in IMAGES:
            name = os.path.basename(path)
            step(f"{name}: checked in the browser and by imgport check --json")
            page.locator("#upload-file").set_input_files(path)
            # The progress bar shows, then the verdict with the report.
            expect(page.locator("#precheck-verdict")).to_be_visible(timeout=180000)
            expect(page.locator("#precheck-text")).to_contain_text(f"Checked {name}")
            browser_report = json.loads(page.locator("#precheck-json").text_content())
            assert browser_report.get("source") == name, browser_report.get("source")
            cli = cli_check(path)
            diff = differences(normalized(cli), normalized(browser_report))
            if cli["format"].get("qcow2_required_counts_zeros") is False and browser_report["format"].get("qcow2_required_counts_zeros"):
                # A browser cannot see a file's holes (no SEEK_DATA), as an HTTP source
                # cannot: the measure of a raw image counts them, flagged as an upper
                # bound. Only those fields may differ, in that direction.
                holes = {".format.qcow2_required", ".format.qcow2_required_counts_zeros", ".measure.required"}
                assert browser_report["measure"]["required"] >= cli["measure"]["required"], name
                diff = [d for d in diff if d.split(":")[0] not in holes]
                print(f"   {name}: measure {browser_report['measure']['required']} (holes unseen) vs {cli['measure']['required']}", flush=True)
            assert not diff, f"{name}: the browser's check differs from imgport check --json:\n" + "\n".join(diff[:20])
            v = cli["verdict"]
            label = page.locator("#upload-start").text_content()
            if v["importable"]:
                assert label == "Upload (check passed)", label
            else:
                assert label.startswith("Upload anyway ("), label
                expect(page.locator("#precheck-verdict")).to_contain_text(v["codes"][0])
                refused_path = refused_path or path
            # Every finding's code, evidence and fix is on the page, as the CLI has it.
            for f in v["findings"]:
                if f.get("code"):
                    expect(page.locator("#precheck-verdict .finding-code", has_text=f["code"]).first).to_be_visible()
                for text in f.get("fix", [])[:1] + f.get("evidence", [])[:1]:
                    expect(page.locator("#precheck-verdict .findings")).to_contain_text(text[:60])
            print(f"   {name}: same verdict {'importable' if v['importable'] else v['codes']}, "
                  f"same facts; browser read {browser_report['bytes_read']} bytes of {browser_report['image_size']}", flush=True)
            compared += 1
            if compared <= 2:
                shot = os.path.join(tempfile.gettempdir(), f"imgport-precheck-{compared}.png")
                page.screenshot(path=shot, full_page=True, caret="initial")
                print(f"   screenshot {shot}", flush=True)
        assert compared == len(IMAGES)

        if refused_path:
            name = os.path.basename(refused_path)
            step(f"upload anyway: {name}, refused by the check, is uploaded when the user insists")
            page.locator("#upload-file").set_input_files(refused_path)
            expect(page.locator("#upload-start")).to_have_text(re.compile(r"^Upload anyway \("), timeout=180000)
            page.locator("#upload-start").click()
            expect(page.locator("#upload-result")).to_contain_text(f"Uploaded {name}", timeout=300000)
        browser.close()
    assert not page_errors, f"errors in the page: {page_errors}"
    print(f"OK precheck: {compared} images, same verdict and facts in the browser as imgport check")
finally:
    server.kill()
    server.wait()
    shutil.rmtree(data, ignore_errors=True)
