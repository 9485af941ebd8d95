#!/usr/bin/python3
"""The console end to end, in headless Chromium (Debian's chromium and chromium-driver, driven by Selenium).

Starts `otinish serve` on a fresh data directory with the example catalogue, calendars and rules, creates a token
per role, and walks what each desk does in a browser:
  - an operator registers a dangerous incident by keyboard (topic found by a few Russian letters, the danger
    banner shown, Ctrl+Enter), and sees the repeat hint on a second call from the same phone;
  - the agency's queue, open in another tab, shows the appeal live once an inspector assigns it, without a reload;
  - the agency accepts it from the appeal page; a page left open while the appeal changed gets the 409 screen;
  - the admin sees a broken rule's line:column at the line, and a what-if result with its chart on a good rule set;
  - the auditor's time slider shows the deadline before an extension moved it;
  - the public page shows no personal data.
Every page is saved as a PNG under --out so that a person can look at them.

Usage: console_e2e.py --otinish BUILD/api/otinish --source SOURCE_DIR --out DIR
"""
import argparse
import os
import re
import shutil
import sys
import tempfile
import time

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    sys.exit("console_e2e: python3-selenium is missing: run scripts/install-deps.sh test "
             "(apt-get install chromium chromium-driver python3-selenium)")

NAME, PHONE, ADDRESS = "Айгерим Сапарова", "+7 701 555 0142", "ул. Тауке хана 17, кв. 42"


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crash"))
import harness  # noqa: E402  (tests/crash/harness.py: the server as every Python test drives it)


class Server(harness.Server):
    """`otinish serve` on a temporary data directory, with one token per role, started."""

    def __init__(self, otinish, source):
        self.dir = tempfile.mkdtemp(prefix="otinish-console-")
        super().__init__(otinish, source, os.path.join(self.dir, "data"))
        self.start()

    def command(self, role, appeal, kind, body):
        status, a, _ = self.call(role, "GET", f"/v1/appeals/{appeal}")
        assert status == 200, (status, a)
        status, r, _ = self.call(role, "POST", f"/v1/appeals/{appeal}/{kind}", body, {"If-Match": f'"{a["version"]}"'})
        assert status == 200, (kind, status, r)
        return r

    def stop(self):
        try:
            super().stop(timeout=15)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class Console:
    def __init__(self, url, out):
        opts = webdriver.ChromeOptions()
        opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                  "--disable-gpu", "--lang=ru"]:
            opts.add_argument(a)
        self.d = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=opts)
        self.url = url
        self.out = out
        self.shots = 0
        self.tabs = {}

    def tab(self, role, server):
        """A tab signed in as `role` (each tab has its own sessionStorage, so its own token)."""
        if role in self.tabs:
            self.d.switch_to.window(self.tabs[role])
            return
        if self.tabs:
            self.d.switch_to.new_window("tab")
        self.tabs[role] = self.d.current_window_handle
        self.d.get(self.url + "/console/#/login")
        box = self.wait_css("main input[type=password]")
        box.send_keys(server.tokens[role], Keys.ENTER)
        self.wait(lambda d: "login" not in d.current_url)

    def wait(self, cond, timeout=15):
        return WebDriverWait(self.d, timeout, poll_frequency=0.1).until(cond)

    def wait_css(self, css, timeout=15):
        return self.wait(EC.visibility_of_element_located((By.CSS_SELECTOR, css)), timeout)

    def shot(self, name):
        self.shots += 1
        path = os.path.join(self.out, f"{self.shots:02d}-{name}.png")
        self.d.save_screenshot(path)
        return path

    def heading(self):
        # Read in the page: the page may be re-rendering, which would make a held element stale.
        return self.d.execute_script("return document.querySelector('main h1')?.textContent || ''")

    def go(self, hash_):
        self.d.execute_script("location.hash = arguments[0]", hash_)


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok: {what}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--otinish", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for f in os.listdir(args.out):
        if f.endswith(".png"):
            os.remove(os.path.join(args.out, f))
    server = Server(args.otinish, args.source)
    c = None
    try:
        c = Console(server.url, args.out)

        # The agency's queue first, so that it must pick the new appeal up live.
        c.tab("agency", server)
        c.wait_css("table.queue")
        c.wait(lambda d: "on" in d.find_element(By.CSS_SELECTOR, ".live-state").get_attribute("class"))
        c.shot("agency-queue-empty")

        # The operator registers by keyboard.
        c.tab("operator", server)
        topic = c.wait_css("input[role=combobox]")
        check(c.d.switch_to.active_element == topic, "the desk opens with the topic search focused")
        topic.send_keys("нет отоп")
        c.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#topic-list li[role=option]"))
        c.shot("desk-topic-search")
        topic.send_keys(Keys.ENTER)
        danger = c.wait_css(".danger")
        check("utilities.heating.no_heat" in topic.get_attribute("value"), "a few Russian letters found the heating topic")
        check(danger.is_displayed() and danger.text, "the danger flag is shown for a dangerous topic")
        sel = c.d.find_element(By.CSS_SELECTOR, "select[name=category]")
        check(sel.get_attribute("value") == "incident", "the topic's category is preselected")
        c.d.find_element(By.CSS_SELECTOR, "textarea[name=text]").send_keys("В квартире нет отопления с утра, дети дома")
        c.d.find_element(By.CSS_SELECTOR, "input[name=name]").send_keys(NAME)
        c.d.find_element(By.CSS_SELECTOR, "input[name=phone]").send_keys(PHONE)
        c.d.find_element(By.CSS_SELECTOR, "input[name=address]").send_keys(ADDRESS)
        c.d.find_element(By.CSS_SELECTOR, "input[name=street]").send_keys("Тауке хана")
        c.shot("desk-filled")
        c.d.find_element(By.CSS_SELECTOR, "textarea[name=text]").send_keys(Keys.CONTROL, Keys.ENTER)
        c.wait(lambda d: "#/appeal/" in d.current_url)
        appeal = c.d.current_url.split("#/appeal/")[1]
        c.wait_css("table.timeline")
        check(c.d.find_element(By.CSS_SELECTOR, ".flash").text, "the desk says the appeal was registered")
        ms = c.d.execute_script("return window.otinish.registerMs")
        print(f"figure: desk form to 201 in {ms:.1f} ms")
        c.shot("operator-appeal")

        # A second call from the same phone on the same topic: the desk says it is a repeat before registering.
        c.go("#/desk")
        topic = c.wait_css("input[role=combobox]")
        topic.send_keys("нет отоп", Keys.ENTER)
        phone = c.d.find_element(By.CSS_SELECTOR, "input[name=phone]")
        phone.send_keys(PHONE, Keys.TAB)
        hint = c.wait_css(".repeat")
        check(appeal in hint.text, "the repeat hint names the earlier appeal from the same phone")
        c.shot("desk-repeat-hint")

        # An inspector assigns it (topic's agency); the agency's queue shows it without a reload.
        server.command("inspector", appeal, "assign", {})
        c.tab("agency", server)
        row = c.wait_css(f"table.queue tr[data-id='{appeal}']")
        check(row.is_displayed(), "the agency queue shows the assigned appeal live (no reload)")
        c.shot("agency-queue-live")

        # The agency accepts it from the appeal page.
        row.find_element(By.TAG_NAME, "a").click()
        c.wait_css("button[data-command=accept]").click()
        c.wait_css("form.command button.primary").click()
        c.wait(lambda d: "принято" in c.heading())
        check(True, "the agency accepted the appeal from the console")
        c.shot("agency-accepted")

        # A stale page: the appeal changes behind it; the next command gets the 409 screen.
        c.wait_css("button[data-command=start_work]")
        server.command("agency", appeal, "comment", {"text": "выехала бригада"})
        c.d.find_element(By.CSS_SELECTOR, "button[data-command=start_work]").click()
        c.wait_css("form.command button.primary").click()
        conflict = c.wait_css(".conflict")
        check("выехала бригада" in conflict.text or "comment" in conflict.text.lower(),
              "the 409 screen shows what changed since the page was loaded")
        c.shot("agency-409")
        c.d.find_element(By.XPATH, "//section[contains(@class,'conflict')]//button").click()
        c.wait_css("button[data-command=start_work]").click()
        c.wait_css("form.command button.primary").click()
        c.wait(lambda d: "в работе" in c.heading())
        check(True, "deciding again on the new version works")

        # An extension moves the deadline (agency asks, controller grants): the auditor's slider shows the old one.
        status, before, _ = server.call("agency", "GET", f"/v1/appeals/{appeal}")
        new_deadline = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 20 * 86400))  # as the API writes it, to the second
        server.command("agency", appeal, "request_extension", {"new_deadline": new_deadline, "reason": "нужна запчасть"})
        server.command("controller", appeal, "grant_extension", {"reason": "согласовано"})
        for _ in range(100):
            _, tl, _ = server.call("auditor", "GET", f"/v1/appeals/{appeal}/timeline")
            if any(e.get("sla", {}).get("deadline", "").startswith(new_deadline[:19]) for e in tl["entries"]):
                break
            time.sleep(0.1)

        # The admin: a broken rule gets its line:column at the line; a good one a what-if with a chart.
        c.tab("admin", server)
        area = c.wait_css("textarea.code")
        good = area.get_attribute("value")
        check(len(good) > 100, "the rules in force are in the editor")
        lines = good.split("\n")
        broken = "\n".join(lines[:5] + ["  - id: [unclosed"] + lines[5:])
        c.d.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'))", area, broken)
        c.d.find_element(By.XPATH, "//div[contains(@class,'actions')]/button[1]").click()
        err = c.wait_css("ul.errors li")
        check(re.search(r"city\.yaml:\d+:\d+", err.text), f"the 422's file:line:column is listed ({err.text})")
        line = int(re.search(r"city\.yaml:(\d+):", err.text).group(1))
        marked = c.d.find_elements(By.CSS_SELECTOR, ".gutter .err")
        check(marked and int(marked[0].get_attribute("data-line")) == line, f"the gutter marks line {line}")
        c.shot("admin-rule-error")
        c.d.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'))", area, good)
        c.d.find_element(By.XPATH, "//div[contains(@class,'actions')]/button[1]").click()
        c.wait_css(".whatif svg.chart", timeout=60)
        check(True, "a what-if run on history shows its result and chart")
        c.shot("admin-what-if")
        c.go("#/calendars")
        c.wait_css(".months .days span.off")
        check(len(c.d.find_elements(By.CSS_SELECTOR, ".days span.work")) > 200, "the calendar year grid shows working days")
        c.shot("admin-calendar")

        # The auditor: the slider's earlier position shows the deadline before the extension.
        c.tab("auditor", server)
        c.go(f"#/audit/{appeal}")
        slider = c.wait_css("input[type=range]")
        latest = [x.get_attribute("data-deadline") for x in c.d.find_elements(By.CSS_SELECTOR, "td.deadline")]
        check(any(x.startswith(new_deadline[:19]) for x in latest), f"at the end the slider shows the extended deadline {new_deadline}")
        c.shot("auditor-latest")
        slider.send_keys(Keys.HOME)
        for _ in range(200):
            shown = [x.get_attribute("data-deadline") for x in c.d.find_elements(By.CSS_SELECTOR, "td.deadline")]
            if shown and all(s and s < new_deadline for s in shown):
                break
            slider.send_keys(Keys.ARROW_RIGHT)
        shown = [x.get_attribute("data-deadline") for x in c.d.find_elements(By.CSS_SELECTOR, "td.deadline")]
        check(shown and all(s and s < new_deadline for s in shown), f"an earlier slider position shows an earlier deadline {shown}")
        c.shot("auditor-earlier")
        c.d.find_element(By.XPATH, "//section[contains(@class,'card')]//button").click()
        c.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".verify .ok") or d.find_elements(By.CSS_SELECTOR, ".verify .bad"), timeout=60)
        check(c.d.find_elements(By.CSS_SELECTOR, ".verify .ok"), "the log's verify status is shown and ok")
        c.shot("auditor-verify")

        # The public page: charts, the feed, status by number; no personal data anywhere on it.
        c.tab("public", server)
        c.go("#/public")
        c.wait_css("table.feed")
        num = c.wait_css("form.inline input")
        num.send_keys(appeal, Keys.ENTER)
        c.wait_css("form.inline dl.facts")
        page = c.d.page_source
        for secret in [NAME, PHONE, "701 555", "Тауке хана 17", "кв. 42", "дети дома"]:
            check(secret not in page, f"the public page does not show {secret!r}")
        c.shot("public")

        # Every page in each of the three languages has its own words (the language switch works).
        c.d.find_element(By.ID, "lang").send_keys("English")
        c.wait(lambda d: "Status of my appeal" in d.find_element(By.TAG_NAME, "main").text)
        check(True, "the language switch relabels the page")
        c.shot("public-en")
        print(f"screenshots: {c.shots} in {args.out}")
    except Exception:
        if c:
            c.shot("failure")
            print(c.d.get_log("browser") if hasattr(c.d, "get_log") else "", file=sys.stderr)
        raise
    finally:
        if c:
            c.d.quit()
        server.stop()


if __name__ == "__main__":
    main()
