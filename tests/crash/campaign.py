#!/usr/bin/python3
"""The crash campaign: random workloads against `otinish serve`, SIGKILL at a random moment, restart, check.

Each round runs desks registering appeals and moving them on, now and then a projection rebuild and a rule
publication, kills the server with SIGKILL at a random moment (so also during a rebuild or a publication), and then:
  - the killed data directory verifies offline (`otinish verify`: hash chain, indexes, Merkle tree);
  - every acknowledged rule publication is in the killed log; after a restart, every acknowledged registration
    and command is there (the appeal at least at the acknowledged version);
  - the views equal the log (each appeal's stage and stream version in the list as in the appeal itself), and at the
    end a rebuild of the views changes nothing;
  - SLA timers (two-minute clocks on the 24/7 calendar, tests/crash/campaign_rules.yaml) fired exactly once:
    no rung twice, and every rung due well before the check is there.
Every fifth round also kills an `otinish import` of the log's export at a random moment: what it left verifies
and is a prefix of the export, and a second import completes.

  campaign.py --otinish BUILD/api/otinish --source SOURCE_DIR --rounds N [--seed S] [--report FILE]
Prints a summary and "CAMPAIGN_OK"; exits 1 at the first failed check, naming the round, the seed and what failed.
"""

import argparse
import base64
import datetime
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Server, appeal_body  # noqa: E402

RULES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "campaign_rules.yaml")
RUNG_KINDS = ("warning", "breached", "escalated")
VIEWS = ("appeals", "timeline", "public", "scorecards", "repeats")


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


class Campaign:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.work = tempfile.mkdtemp(prefix="otinish-campaign-")
        self.server = Server(a.otinish, a.source, os.path.join(self.work, "data"), rules_file=RULES)
        self.lock = threading.Lock()
        self.acked = {}        # appeal id -> highest acknowledged version
        self.registered_at = {}  # appeal id -> time.time() of its acknowledgement
        self.touched = set()     # appeals acknowledged (registered or moved on) in the current round
        self.rules_acked = set()  # rule-set versions ("1.N") whose publication was acknowledged
        self.rules_checked = set()
        self.rules_sent = 0
        self.stats = {"rounds": 0, "registrations": 0, "commands": 0, "conflicts": 0, "rebuilds": 0,
                      "publications": 0, "refused_in_flight": 0, "imports_killed": 0, "sla_rungs": 0,
                      "kills_during_rebuild": 0, "kills_during_publication": 0}
        self.in_rebuild = 0
        self.in_publication = 0

    # --- the workload -------------------------------------------------------------------------------------
    def desk(self, stop, seed):
        rng = random.Random(seed)
        n = 0
        while not stop.is_set():
            n += 1
            op = rng.random()
            if op < 0.7 or not self.acked:
                self.register(rng, n, seed)
            elif op < 0.95:
                self.command(rng)
            elif op < 0.98:
                self.rebuild(rng)
            else:
                self.publish()

    def register(self, rng, n, seed):
        body = appeal_body(rng.randrange(1 << 30))
        status, r, _ = self.server.call("operator", "POST", "/v1/appeals", body,
                                        {"Idempotency-Key": "c%d-%d-%d" % (self.stats["rounds"], seed, n)}, timeout=10)
        if status == 201:
            with self.lock:
                self.acked[r["id"]] = max(self.acked.get(r["id"], 0), r["version"])
                self.registered_at.setdefault(r["id"], time.time())
                self.touched.add(r["id"])
                self.stats["registrations"] += 1
        elif status not in (0, 503):
            raise Failed("registration answered %s: %s" % (status, r))

    def command(self, rng):
        with self.lock:
            appeal = rng.choice(list(self.acked))
        status, a, headers = self.server.call("auditor", "GET", "/v1/appeals/" + appeal, timeout=10)
        if status != 200:
            return
        stage = a.get("stage")
        if stage == "registered":
            role, kind, body = "operator", "send_for_review", {}
        elif stage == "under_review":
            role, kind, body = "inspector", "assign", {"agency": "heat_supply"}
        else:
            return
        status, r, _ = self.server.call(role, "POST", "/v1/appeals/%s/%s" % (appeal, kind), body,
                                        {"If-Match": headers.get("ETag", "")}, timeout=10)
        if status == 200:
            with self.lock:
                self.acked[appeal] = max(self.acked[appeal], r["version"])
                self.touched.add(appeal)
                self.stats["commands"] += 1
        elif status in (409, 412):
            self.stats["conflicts"] += 1
        elif status not in (0, 503):
            raise Failed("%s answered %s: %s" % (kind, status, r))

    def rebuild(self, rng):
        name = rng.choice(VIEWS)
        self.in_rebuild += 1
        try:
            status, r, _ = self.server.call("admin", "POST", "/v1/projections/%s/rebuild" % name, {}, timeout=30)
        finally:
            self.in_rebuild -= 1
        if status in (200, 202):
            self.stats["rebuilds"] += 1
        elif status not in (0, 409, 503):
            raise Failed("rebuild of %s answered %s: %s" % (name, status, r))

    def publish(self):
        with self.lock:
            self.rules_sent += 1
            version = self.rules_sent
        text = open(RULES).read().replace('version: "1"', 'version: "1.%d"' % version)
        self.in_publication += 1
        try:
            status, r, _ = self.server.call("admin", "PUT", "/v1/rules?policy=keep&file=campaign_rules.yaml",
                                            text.encode(), {"Content-Type": "application/yaml"}, timeout=30)
        finally:
            self.in_publication -= 1
        if status in (200, 201):
            with self.lock:
                self.rules_acked.add("1.%d" % version)
                self.stats["publications"] += 1
        elif status not in (0, 409, 503):
            raise Failed("rule publication answered %s: %s" % (status, r))

    # --- one round ----------------------------------------------------------------------------------------
    def round(self, k):
        self.stats["rounds"] = k
        stop = threading.Event()
        self.touched = set()
        desks = [threading.Thread(target=self.desk, args=(stop, k * 100 + d)) for d in range(self.a.desks)]
        for t in desks:
            t.start()
        time.sleep(self.rng.uniform(0.1, self.a.max_seconds))
        if self.in_rebuild:
            self.stats["kills_during_rebuild"] += 1
        if self.in_publication:
            self.stats["kills_during_publication"] += 1
        self.server.kill()
        stop.set()
        for t in desks:
            t.join()
        self.verify_offline(self.server.data, "round %d" % k)
        if k % 5 == 0:
            self.check_publications(k)
            self.killed_import(k)
        self.server.start()
        self.check_acknowledged(k)
        self.check_views_equal_log(k)
        if k % 10 == 0:
            self.check_sla(k)

    def verify_offline(self, data, where):
        v = subprocess.run([self.a.otinish, "verify", "--data", data], capture_output=True, text=True)
        check(v.returncode == 0 and v.stdout.startswith("ok"), "%s: verify failed: %s %s" % (where, v.stdout, v.stderr))

    def check_publications(self, k):
        """Every acknowledged rule publication is in the killed log (read from its export)."""
        todo = self.rules_acked - self.rules_checked
        if not todo:
            return
        export = os.path.join(self.work, "export.jsonl")
        subprocess.run([self.a.otinish, "export", "--data", self.server.data, "--out", export], check=True,
                       capture_output=True)
        published = set()
        with open(export) as f:
            for line in f:
                if '"RuleSetPublished"' in line:
                    payload = base64.b64decode(json.loads(line)["payload"])
                    published.update(m.decode() for m in re.findall(rb'version: "(1\.[0-9]+)"', payload))
        missing = todo - published
        check(not missing, "round %d: acknowledged rule publications missing from the log: %s" % (k, sorted(missing)))
        self.rules_checked |= todo

    def killed_import(self, k):
        export = os.path.join(self.work, "export.jsonl")
        subprocess.run([self.a.otinish, "export", "--data", self.server.data, "--out", export], check=True,
                       capture_output=True)
        # The first 20,000 events are enough to be killed in the middle of, and keep a long campaign's rounds short.
        with open(export) as f:
            head = [line for _, line in zip(range(20000), f)]
        with open(export, "w") as f:
            f.writelines(head)
        target = os.path.join(self.work, "import-%d" % k)
        p = subprocess.Popen([self.a.otinish, "import", "--data", target, export], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(self.rng.uniform(0.0, 0.4))
        p.kill()
        p.wait()
        self.stats["imports_killed"] += 1
        if os.path.exists(os.path.join(target, "log", "CURRENT")):
            self.verify_offline(target, "round %d: the killed import" % k)
            partial = os.path.join(self.work, "partial.jsonl")
            subprocess.run([self.a.otinish, "export", "--data", target, "--out", partial], check=True,
                           capture_output=True)
            with open(export) as full, open(partial) as part:
                for i, line in enumerate(part):
                    check(line == full.readline(), "round %d: the killed import's event %d differs from the export"
                          % (k, i + 1))
        again = os.path.join(self.work, "import-%d-again" % k)
        r = subprocess.run([self.a.otinish, "import", "--data", again, export], capture_output=True, text=True)
        check(r.returncode == 0, "round %d: import after a killed one failed: %s" % (k, r.stderr))
        self.verify_offline(again, "round %d: the second import" % k)
        shutil.rmtree(target, ignore_errors=True)
        shutil.rmtree(again, ignore_errors=True)

    # --- checks after a restart ---------------------------------------------------------------------------
    def sample(self):
        """The appeals a round checks: every one acknowledged in it, and up to --sample others at random."""
        others = self.rng.sample(list(self.acked), min(self.a.sample, len(self.acked)))
        return sorted(self.touched | set(others))

    def check_acknowledged(self, k):
        for appeal in self.sample():
            version = self.acked[appeal]
            status, a, _ = self.server.call("auditor", "GET", "/v1/appeals/" + appeal)
            check(status == 200, "round %d: acknowledged appeal %s is missing (%s)" % (k, appeal, status))
            check(a["version"] >= version, "round %d: appeal %s is at version %d, %d was acknowledged"
                  % (k, appeal, a["version"], version))

    def listing(self):
        """The whole appeals view, page by page."""
        rows, after = {}, ""
        while True:
            status, body, _ = self.server.call("auditor", "GET", "/v1/appeals?limit=10000&after=" + after)
            check(status == 200, "the appeals list answered %s: %s" % (status, body))
            rows.update({r["id"]: (r["stage"], r["stream_version"]) for r in body["appeals"]})
            after = body.get("next_after")
            if not after:
                return rows

    def check_views_equal_log(self, k):
        for attempt in range(5):
            rows = self.listing()
            check(set(self.acked) <= set(rows), "round %d: acknowledged appeals missing from the view: %s"
                  % (k, sorted(set(self.acked) - set(rows))[:5]))
            wrong = []
            for appeal in self.sample():
                status, a, _ = self.server.call("auditor", "GET", "/v1/appeals/" + appeal)
                if rows.get(appeal) != (a["stage"], a["stream_version"]):
                    wrong.append((appeal, rows.get(appeal), (a["stage"], a["stream_version"])))
            if not wrong:
                return
            time.sleep(0.3)  # an SLA event may have landed between the two reads
        raise Failed("round %d: the views differ from the log: %s" % (k, wrong[:5]))

    def check_sla(self, k):
        now = time.time()
        items = list(self.registered_at.items())
        for appeal, at in self.rng.sample(items, min(self.a.sample * 3 // 2, len(items))):
            status, t, _ = self.server.call("auditor", "GET", "/v1/appeals/%s/timeline" % appeal)
            check(status == 200, "round %d: timeline of %s answered %s" % (k, appeal, status))
            seen = set()
            for entry in t["entries"]:
                sla = entry.get("sla")
                if not sla or sla.get("kind") not in RUNG_KINDS:
                    continue
                key = (sla["clock"], sla.get("cycle"), sla["kind"], sla.get("label"))
                check(key not in seen, "round %d: appeal %s: SLA rung %s fired twice" % (k, appeal, key))
                seen.add(key)
                self.stats["sla_rungs"] += 1
            labels = {key[3] for key in seen}
            # The 50% rung is due a minute after registration; give the service 20 s more (a restart replays).
            if now - at > 80:
                check("50%" in labels, "round %d: appeal %s registered %.0f s ago has no 50%% rung: %s"
                      % (k, appeal, now - at, sorted(labels)))
            if now - at > 140:
                check("breach" in labels, "round %d: appeal %s registered %.0f s ago has no breach rung: %s"
                      % (k, appeal, now - at, sorted(labels)))

    def write_report(self, started, rounds, final):
        """The figures so far; a run stopped early leaves those of its last tenth round (`finished` false)."""
        summary = dict(self.stats, seed=self.a.seed, rounds_passed=rounds, rounds_planned=self.a.rounds,
                       finished=final, seconds=round(time.time() - started), appeals=len(self.acked),
                       date=datetime.date.today().isoformat())
        if self.a.report:
            with open(self.a.report, "w") as f:
                json.dump(summary, f, indent=1)
        return summary

    def final(self):
        before = self.listing()
        for name in VIEWS:
            status, r, _ = self.server.call("admin", "POST", "/v1/projections/%s/rebuild" % name, {}, timeout=120)
            check(status in (200, 202), "rebuild of %s answered %s: %s" % (name, status, r))
        for attempt in range(10):
            after = self.listing()
            if after == before:
                return
            time.sleep(0.5)
            before = self.listing()
        raise Failed("a rebuild changed the appeals view: %d rows differ"
                     % len(set(before.items()) ^ set(after.items())))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--otinish", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--report", help="write the summary as JSON here")
    ap.add_argument("--desks", type=int, default=4, help="concurrent clients in a round")
    ap.add_argument("--max-seconds", type=float, default=2.0, help="longest a round runs before the kill")
    ap.add_argument("--sample", type=int, default=200,
                    help="older appeals checked each round beside the round's own (timelines: 1.5 times as many)")
    a = ap.parse_args()
    if a.seed is None:
        a.seed = random.randrange(1 << 31)
    c = Campaign(a)
    started = time.time()
    print("campaign: %d rounds, seed %d, in %s" % (a.rounds, a.seed, c.work), flush=True)
    try:
        c.server.start()
        for k in range(1, a.rounds + 1):
            c.round(k)
            if k % 10 == 0 or k == a.rounds:
                print("campaign: round %d/%d passed; %s" % (k, a.rounds, json.dumps(c.stats)), flush=True)
                c.write_report(started, k, final=False)
        c.check_sla(a.rounds)
        c.final()
        c.server.stop()
        c.check_publications(a.rounds)
        c.verify_offline(c.server.data, "at the end")
    except Failed as f:
        c.server.kill()
        print("CAMPAIGN FAILED (seed %d, data kept in %s): %s" % (a.seed, c.work, f), flush=True)
        return 1
    finally:
        c.server.kill()
    summary = c.write_report(started, a.rounds, final=True)
    print("campaign: " + json.dumps(summary))
    shutil.rmtree(c.work, ignore_errors=True)
    print("CAMPAIGN_OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
