#!/usr/bin/env python3
"""Drives headless Chromium (through chromedriver and Selenium) over
live.html and prints, as one JSON object, what the page shows.

    live_page.py BASE_URL SHOT_DIR live|fixture

It loads BASE_URL/live.html (with ?fixture=/fixture.json in fixture mode),
waits for the sequence diagram, presses "close" (live mode) and waits for
TIME-WAIT, reads the countdown twice a second and a half apart, hovers a
segment, presses "download" and waits for the time/sequence graph, and
takes full-page screenshots 1200 and 375 px wide (desktop.png, phone.png).
In live mode it also fetches /_conn/recent from the browser's own address,
for the test to compare the drawing with."""
import json
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

base, shots, mode = sys.argv[1:4]
opts = webdriver.ChromeOptions()
for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--window-size=1200,900",
            "--disable-background-networking", "--disable-component-update", f"--user-data-dir={shots}/profile"]:
    opts.add_argument(arg)
opts.binary_location = "/usr/bin/chromium"
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
wait = WebDriverWait(driver, 40, poll_frequency=0.1)
out = {}


def css(sel):
    return driver.find_elements(By.CSS_SELECTOR, sel)


def shot(name, width, mobile):
    """A full-page screenshot `width` px wide."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": mobile})
    time.sleep(0.3)
    height = min(driver.execute_script("return document.documentElement.scrollHeight"), 6000)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})
    time.sleep(0.3)
    driver.save_screenshot(f"{shots}/{name}.png")
    out[name] = [width, height]
    out[name + "_scroll"] = driver.execute_script(
        "const b = document.getElementById('seq-box');"
        "return [b.clientWidth, b.scrollWidth, document.documentElement.scrollWidth]")
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


try:
    driver.get(base + "/live.html" + ("?fixture=/fixture.json" if mode == "fixture" else ""))
    wait.until(lambda d: len(css("#seq-box .seg")) >= 3)
    if mode == "live":
        css("#close-me")[0].click()
    # The server's side reaches TIME-WAIT: the countdown shows.
    wait.until(lambda d: css("#countdown") and css("#countdown")[0].get_attribute("data-left")
               and css("#countdown")[0].is_displayed() and css("#seq-box .tw-left"))
    out["countdown"] = []
    for _ in range(2):
        out["countdown"].append(driver.execute_script(
            "const c = document.getElementById('countdown');"
            "return [+c.dataset.left, c.querySelector('.left').textContent,"
            "        document.querySelector('#seq-box .tw-left').textContent]"))
        time.sleep(1.5)
    if mode == "live":
        # 2·MSL passes: the server deletes the entry, and the page says so.
        wait.until(lambda d: css("#countdown")[0].get_attribute("data-left") == "0"
                   and "deleted" in css("#countdown")[0].text)
        out["deleted"] = css("#countdown")[0].text
    out["conn"] = css("#picker")[0].get_attribute("value")
    out["picked"] = driver.execute_script(
        "const p = document.getElementById('picker'); return p.options[p.selectedIndex].textContent")
    # One read of the whole diagram, so a redraw cannot come in between.
    out.update(driver.execute_script("""
        const all = (sel, f) => [...document.querySelectorAll('#seq-box ' + sel)].map(f);
        return {
          segments: all('.seg', (g) => ({dir: g.dataset.dir, flags: g.dataset.flags, seq: g.dataset.seq,
                                         ack: g.dataset.ack, kind: g.dataset.kind})),
          server_states: all('.server-state', (t) => t.textContent),
          client_states: all('.client-state', (t) => t.textContent),
          inferred_tags: all('.inferred-tag', (t) => t).length,
        };"""))
    ActionChains(driver).move_to_element(css("#seq-box .seg")[1]).perform()
    wait.until(lambda d: "sent by" in css("#detail")[0].text)
    out["detail"] = css("#detail")[0].text
    if mode == "live":
        with urllib.request.urlopen(base + "/_conn/recent") as r:
            out["recent"] = json.load(r)
        css("#download")[0].click()
    wait.until(lambda d: css("#graph-box svg.stevens"))
    out["bars"] = len(css("#graph-box .bar"))
    out["retx_bars"] = len(css("#graph-box .bar.retx"))
    out["cwnd_line"] = len(css("#graph-box .cwnd"))
    shot("desktop", 1200, False)
    shot("phone", 375, True)
    out["errors"] = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
finally:
    print(json.dumps(out))
    driver.quit()
