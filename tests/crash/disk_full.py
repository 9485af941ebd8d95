#!/usr/bin/python3
"""A real full disk: `otinish serve` on a small tmpfs that the test fills up, then empties.

What must hold: registrations fail cleanly (503 problem+json with Retry-After, never a 500, never a hang),
reads keep working while the disk is full, registrations resume by themselves once space is freed (no restart),
and after a restart every appeal answered 201 is there and the log verifies.

Needs root to mount the tmpfs (CI runs as root); exits 77 (CTest: skipped) when it cannot mount.
  disk_full.py --otinish BUILD/api/otinish --source SOURCE_DIR
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Server, appeal_body  # noqa: E402

SIZE_MB = 384


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--otinish", required=True)
    ap.add_argument("--source", required=True)
    a = ap.parse_args()

    mnt = tempfile.mkdtemp(prefix="otinish-diskfull-")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % SIZE_MB, "tmpfs", mnt],
                      capture_output=True).returncode != 0:
        print("disk_full: cannot mount a tmpfs here (needs root): skipped")
        return 77
    server = None
    try:
        server = Server(a.otinish, a.source, os.path.join(mnt, "data"))
        server.log_path = os.path.join(tempfile.gettempdir(), os.path.basename(mnt) + ".serve.log")
        server.start()
        acked = {}  # appeal id -> idempotency key
        n = 0

        def register(key):
            nonlocal n
            n += 1
            status, body, headers = server.call("operator", "POST", "/v1/appeals", appeal_body(n, 2000),
                                                {"Idempotency-Key": key})
            if status == 201:
                acked[body["id"]] = key
            return status, body, headers

        for i in range(20):
            status, body, _ = register("before-%d" % i)
            assert status == 201, (status, body)
        first = next(iter(acked))

        # Fill the disk: a filler file takes all but a little of the space.
        filler = os.path.join(mnt, "filler")
        free = os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize
        with open(filler, "wb") as f:
            chunk = b"\0" * (1 << 20)
            try:
                for _ in range(free >> 20):
                    f.write(chunk)
                f.flush()
            except OSError:
                pass
        print("disk_full: filled %s (%d MB free before)" % (mnt, free >> 20))

        refused = None
        for i in range(2000):
            status, body, headers = register("full-%d" % i)
            if status == 201:
                continue
            assert status == 503, ("a full disk must answer 503, not", status, body)
            assert headers.get("Content-Type") == "application/problem+json", headers
            assert headers.get("Retry-After"), headers
            refused = body
            break
        assert refused is not None, "2000 registrations fit on a full disk?"
        print("disk_full: refused after %d registrations: %s" % (i, refused["detail"][:160]))
        for j in range(3):
            status, body, _ = register("still-full-%d" % j)
            assert status in (201, 503), (status, body)

        # Reads keep working.
        status, body, _ = server.call("auditor", "GET", "/v1/appeals/" + first)
        assert status == 200, ("read while full", status, body)
        status, body, _ = server.call("auditor", "GET", "/v1/appeals/" + first + "/timeline")
        assert status == 200, ("timeline while full", status, body)

        # Space comes back: registrations resume without a restart, within a bound.
        os.remove(filler)
        deadline = time.time() + 60
        resumed_after = None
        body = None
        while time.time() < deadline:
            status, body, _ = register("after-%d" % n)
            if status == 201:
                resumed_after = 60 - (deadline - time.time())
                break
            assert status == 503, (status, body)
            time.sleep(0.5)
        assert resumed_after is not None, ("registrations did not resume within 60 s of freeing space", body)
        print("disk_full: registrations resumed %.1f s after space was freed" % resumed_after)
        for i in range(20):
            status, body, _ = register("after-more-%d" % i)
            assert status == 201, (status, body)

        # A restart finds every acknowledged appeal, and the log verifies.
        assert server.stop() == 0, "serve did not exit 0 on SIGTERM"
        server.start()
        for appeal in acked:
            status, body, _ = server.call("auditor", "GET", "/v1/appeals/" + appeal)
            assert status == 200, ("acknowledged appeal missing after restart", appeal, status, body)
        server.stop()
        verify = subprocess.run([a.otinish, "verify", "--data", server.data], capture_output=True, text=True)
        print(verify.stdout.strip())
        assert verify.returncode == 0, verify.stdout + verify.stderr
        print("disk_full: %d appeals acknowledged, all present after restart" % len(acked))
        # For docs/reliability.md (scripts/reliability.sh): kind|injected|acknowledged checked|lost|outcome
        print("FAULT|a real full disk (a %d MB tmpfs filled by another file)|1|%d|0|registrations got 503 with "
              "Retry-After, reads went on; they resumed %.1f s after space was freed, without a restart"
              % (SIZE_MB, len(acked), resumed_after))
        print("DISK_FULL_OK")
        return 0
    finally:
        if server:
            server.kill()
        subprocess.run(["umount", "-l", mnt])
        os.rmdir(mnt)


if __name__ == "__main__":
    sys.exit(main())
