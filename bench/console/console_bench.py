#!/usr/bin/python3
"""The console's three figures, measured in headless Chromium (Debian's chromium, chromium-driver, python3-selenium):

  1. first load: bytes transferred for the console's shell (HTML, JS, CSS) and with what the desk loads after
     signing in (the session and the catalogue), from the browser's Resource Timing (goal <= 300 KB);
  2. registering an appeal from the desk's form to the 201, on the demo's data (a month of Turkestan's 109
     centre from otinish_city_demo), median and p95 over --registrations form submissions (goal < 100 ms);
  3. the queue with --open open appeals (registered by `otinish load`): from opening the page to the rows on
     screen, and the table's own rendering (goal < 1 s).

Usage: console_bench.py --build BUILD --source SOURCE [--registrations 30] [--open 10000]
"""
import argparse
import json
import urllib.request
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait


def serve(otinish, source, data, kek_file):
    cal = os.path.join(source, "examples", "calendars")
    proc = subprocess.Popen(
        [otinish, "serve", "--data", data, "--listen", "127.0.0.1:0", "--no-access-log", "--kek", "file:" + kek_file,
         "--catalogue", os.path.join(source, "examples", "catalogue"),
         "--calendar", os.path.join(cal, "kz.yaml"), "--calendar", os.path.join(cal, "shymkent.yaml"),
         "--calendar", os.path.join(cal, "round-the-clock.yaml"),
         "--rules", os.path.join(source, "examples", "rules", "city.yaml")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    m = re.search(r"listening on (http://\S+)", proc.stdout.readline())
    if not m:
        sys.exit("console_bench: the server did not start")
    return proc, m.group(1)


def token(otinish, data, role, *extra):
    out = subprocess.run([otinish, "token", "create", "--data", data, "--role", role, "--label", "bench", *extra],
                         check=True, capture_output=True, text=True).stdout
    return out.split()[-1]


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"]:
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=opts)


def sign_in(d, url, tok):
    d.get(url + "/console/#/login")
    WebDriverWait(d, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, "main input[type=password]"))
    d.find_element(By.CSS_SELECTOR, "main input[type=password]").send_keys(tok, Keys.ENTER)
    WebDriverWait(d, 15).until(lambda d: "login" not in d.current_url)


def transferred(d, names):
    """Bytes over the wire (headers and body) for the navigation and the resources whose path is in `names`."""
    return d.execute_script("""
      const names = arguments[0];
      const nav = performance.getEntriesByType('navigation')[0];
      let total = nav ? nav.transferSize : 0;
      for (const r of performance.getEntriesByType('resource')) {
        const path = new URL(r.name).pathname;
        if (names.some((n) => path === n)) total += r.transferSize;
      }
      return total;""", names)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--registrations", type=int, default=30)
    ap.add_argument("--open", type=int, default=10000)
    args = ap.parse_args()
    otinish = os.path.join(args.build, "api", "otinish")
    demo = os.path.join(args.build, "examples", "otinish_city_demo")
    work = tempfile.mkdtemp(prefix="otinish-console-bench-")
    data = os.path.join(work, "demo")
    print(f"console bench: {time.strftime('%Y-%m-%d %H:%M:%S')}, {os.cpu_count()} cores")
    subprocess.run([demo, "--data", data, "--source", args.source, "--no-progress"], check=True,
                   stdout=subprocess.DEVNULL)
    op = token(otinish, data, "operator")
    proc, url = serve(otinish, args.source, data, data + ".kek")
    d = browser()
    try:
        # 1. First load, with a cold cache.
        d.get(url + "/console/#/login")
        WebDriverWait(d, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, "main input[type=password]"))
        shell = transferred(d, ["/console/app.js", "/console/i18n.js", "/console/style.css"])
        d.find_element(By.CSS_SELECTOR, "main input[type=password]").send_keys(op, Keys.ENTER)
        WebDriverWait(d, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, "input[role=combobox]"))
        desk = transferred(d, ["/console/app.js", "/console/i18n.js", "/console/style.css", "/v1/session",
                               "/v1/catalogue"])
        print(f"first load: shell {shell / 1024:.1f} KB, with the desk's session and catalogue {desk / 1024:.1f} KB "
              f"(goal <= 300 KB: {'met' if desk <= 300 * 1024 else 'NOT met'})")

        # 2. Desk form to 201 on the demo's data.
        times = []
        for i in range(args.registrations):
            d.execute_script("location.hash = '#/desk'")
            topic = WebDriverWait(d, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, "input[role=combobox]"))[0]
            topic.send_keys("лифт", Keys.ENTER)
            d.find_element(By.CSS_SELECTOR, "textarea[name=text]").send_keys(f"bench {i}")
            d.find_element(By.CSS_SELECTOR, "input[name=phone]").send_keys(f"+7 701 {i:07d}")
            d.execute_script("window.otinish.registerMs = null")
            d.find_element(By.CSS_SELECTOR, "textarea[name=text]").send_keys(Keys.CONTROL, Keys.ENTER)
            ms = WebDriverWait(d, 15).until(lambda d: d.execute_script("return window.otinish.registerMs"))
            times.append(ms)
        times.sort()
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        print(f"desk form to 201 on the demo's data: median {statistics.median(times):.1f} ms, p95 {p95:.1f} ms over "
              f"{len(times)} registrations (goal < 100 ms: {'met' if p95 < 100 else 'NOT met'})")
    finally:
        d.quit()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)

    # 3. The queue with N open appeals: a fresh server, filled by `otinish load` (registrations only).
    data2 = os.path.join(work, "queue")
    tokens = {r: token(otinish, data2, r) for r in ["operator", "inspector"]}
    with open(data2 + ".kek", "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    os.chmod(data2 + ".kek", 0o600)
    proc, url = serve(otinish, args.source, data2, data2 + ".kek")
    d = browser()
    try:
        loaded = 0
        while loaded < args.open:
            subprocess.run([otinish, "load", "--url", url, "--token", tokens["operator"], "--catalogue",
                            os.path.join(args.source, "examples", "catalogue"), "-c", "16", "-d", "2",
                            "--seed", str(loaded + 1)], check=True, stdout=subprocess.DEVNULL)
            req = urllib.request.Request(url + "/v1/appeals?limit=10000",
                                         headers={"Authorization": "Bearer " + tokens["inspector"]})
            with urllib.request.urlopen(req, timeout=30) as res:
                loaded = len(json.loads(res.read())["appeals"])
        sign_in(d, url, tokens["inspector"])
        best = None
        for _ in range(3):
            d.execute_script("location.hash = '#/public'")
            time.sleep(0.5)
            t0 = time.perf_counter()
            d.execute_script("window.otinish.queueRenderMs = null; location.hash = '#/queue'")
            WebDriverWait(d, 60, poll_frequency=0.02).until(lambda d: d.execute_script("return window.otinish.queueRenderMs"))
            total = (time.perf_counter() - t0) * 1000
            render = d.execute_script("return window.otinish.queueRenderMs")
            rows = d.execute_script("return window.otinish.queueRows")
            if best is None or total < best[0]:
                best = (total, render, rows)
        total, render, rows = best
        print(f"queue: {rows} open appeals on screen in {total:.0f} ms from opening the page (fetch and render), "
              f"the table's rendering {render:.0f} ms (goal < 1 s: {'met' if total < 1000 else 'NOT met'}; "
              f"best of 3)")
    finally:
        d.quit()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
