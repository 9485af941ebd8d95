"""`otinish serve` as the reliability tests drive it: start on a data directory, talk to it, kill it, start again.

Only the Python standard library: the tests run with Debian's /usr/bin/python3 on a fresh machine.
"""

import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request

ROLES = [("operator", []), ("inspector", []), ("controller", []), ("admin", []), ("auditor", []), ("public", []),
         ("agency", ["--agency", "heat_supply"])]


class Server:
    """One data directory, with a token per role and a key-encryption key, and the server process on it."""

    def __init__(self, otinish, source, data, kek=None, rules=True, rules_file=None):
        self.otinish, self.source, self.data = otinish, source, data
        self.kek = kek or os.urandom(32).hex()
        self.rules = rules
        self.rules_file = rules_file or os.path.join(source, "examples", "rules", "city.yaml")
        self.tokens = {}
        self.proc = None
        self.url = None
        self.log_path = data.rstrip("/") + ".serve.log"
        for role, extra in ROLES:
            out = subprocess.run([otinish, "token", "create", "--data", data, "--role", role, "--label", role] + extra,
                                 check=True, capture_output=True, text=True).stdout.strip()
            self.tokens[role] = out.split()[-1]

    def start(self, timeout=60):
        cal = os.path.join(self.source, "examples", "calendars")
        args = [self.otinish, "serve", "--data", self.data, "--listen", "127.0.0.1:0", "--no-access-log",
                "--catalogue", os.path.join(self.source, "examples", "catalogue")]
        if self.rules:
            args += ["--calendar", os.path.join(cal, "kz.yaml"), "--calendar", os.path.join(cal, "shymkent.yaml"),
                     "--calendar", os.path.join(cal, "round-the-clock.yaml"),
                     "--rules", self.rules_file]
        env = dict(os.environ, OTINISH_KEK=self.kek)
        log = open(self.log_path, "a")
        # OTINISH_SERVE_WRAPPER runs the server under another program, e.g. "gdb -batch -ex run -ex bt --args".
        wrapper = os.environ.get("OTINISH_SERVE_WRAPPER", "").split()
        self.proc = subprocess.Popen(wrapper + args, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        deadline = time.time() + timeout
        line = ""
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            m = re.search(r"listening on (http://\S+)", line)
            if m:
                self.url = m.group(1)
                return
            if self.proc.poll() is not None:
                break
        raise RuntimeError(f"the server did not start: {line!r}; see {self.log_path}")

    def kill(self):
        """SIGKILL: nothing is flushed, nothing is drained."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("the server did not stop within %d s of SIGTERM" % timeout)
        return self.proc.returncode if self.proc else 0

    def call(self, role, method, path, body=None, headers=None, timeout=30):
        """(status, parsed JSON body or None, headers); a refused connection is status 0."""
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.tokens[role])
        if body is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as res:
                raw = res.read()
                return res.status, parse(raw), res.headers
        except urllib.error.HTTPError as err:
            return err.code, parse(err.read()), err.headers
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return 0, None, {}


def parse(raw):
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode(errors="replace")


def appeal_body(n, text_bytes=200):
    """A registration as a desk sends it, the n-th of a run (the seeds' categories and Shymkent's districts)."""
    topics = [("complaint", "utilities.heating.no_heat"), ("incident", "utilities.water.low_pressure"),
              ("consultation", "reference.public_services.how_to_apply"), ("complaint", "lifts.operation.not_working"),
              ("proposal", "waste.collection.bulky_waste")]
    category, topic = topics[n % len(topics)]
    return {"centre": "SHY", "category": category, "topic": topic, "channel": "phone",
            "location": {"district": ["Abay", "Al-Farabi", "Enbekshi", "Karatau"][n % 4], "street": "Tauke khan"},
            "text": ("appeal %d " % n) + "x" * text_bytes,
            "applicant": {"name": "Applicant %d" % n, "phone": "+7 701 555 %04d" % (n % 10000),
                          "address": "Tauke khan %d" % (n % 200)}}
