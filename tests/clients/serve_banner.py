"""What the browser tests read from `imgport serve`'s first-start banner (shared by
console_e2e.py and console_precheck.py)."""
import re
import threading


def read_banner(server):
    """(API URL, storage URL, SecretId, SecretKey, AppId) from the banner on `server`'s
    stdout (a text pipe); the rest of stdout is drained in the background so the server
    never blocks on a full pipe."""
    first = server.stdout.readline()
    urls = re.findall(r"http://([0-9.:\[\]]+)", first)
    assert len(urls) == 2, f"unexpected banner line: {first!r}"
    api, storage = (f"http://{u}" for u in urls)
    sid = skey = app_id = None
    for line in server.stdout:
        m = re.search(r"\(AppId (\d+)\)", line)
        if m:
            app_id = m.group(1)
        if line.strip().startswith("SecretId:"):
            sid = line.split(":", 1)[1].strip()
        if line.strip().startswith("SecretKey:"):
            skey = line.split(":", 1)[1].strip()
        if sid and skey and app_id:
            break
    assert sid and skey and app_id, "no credentials in the banner"
    threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()
    return api, storage, sid, skey, app_id
