#!/usr/bin/python3
"""Drive the explainer pages in a real browser: headless Chromium through
chromedriver, with Selenium (Debian's chromium, chromium-driver and
python3-selenium; run with Debian's /usr/bin/python3, which has Selenium).

usage: explainer-test.py OUTDIR PAGE.html...

For each page, at window widths 1000 and 1400, for every variant: step
forward through every step with the arrow key and back again, checking the
step counter, the pointer, the value read and the highlighted word (the word
the step read: its address is the pointer and its value the value read)
against the page's own data (`window.FK`, the walk's recorded steps, which
the harness holds to the kernel's trace); check the final table of pinned
frames against the reference, mismatches marked; and check that no text
overflows its panel. Screenshots go to OUTDIR for a person to look at.
Prints one line per page and exits 1 on the first disagreement.
"""
import os
import sys

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.keys import Keys
except ImportError:
    print("explainer: python3-selenium is missing: sudo apt-get install chromium chromium-driver python3-selenium")
    sys.exit(1)

SHOWN = """
var t = function (id) { return document.getElementById(id).textContent; };
var bad = [];
document.querySelectorAll('.box, .box *').forEach(function (e) {
  if (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).display !== 'inline') bad.push(e.id || e.tagName + ':' + e.textContent.slice(0, 40));
});
if (document.documentElement.scrollWidth > window.innerWidth + 1) bad.push('the page itself');
var hit = Array.prototype.map.call(document.querySelectorAll('#words tr.hit td'), function (c) { return c.textContent; });
return {counter: t('counter'), ptr: t('ptr'), val: t('val'), level: t('level'), hit: hit, overflow: bad};
"""


class Disagree(Exception):
    pass


def check_page(d, path, outdir):
    d.get("file://" + os.path.abspath(path))
    fk = d.execute_script("return window.FK;")
    body = d.find_element("tag name", "body")
    buttons = d.find_elements("css selector", "#variants button")
    if len(buttons) != len(fk["variants"]) or not fk["variants"]:
        raise Disagree(f"{len(buttons)} variant buttons for {len(fk['variants'])} variants")
    steps = 0
    stem = os.path.splitext(os.path.basename(path))[0]
    width = d.get_window_size()["width"]
    for k, w in enumerate(fk["variants"]):
        buttons[k].click()
        n = len(w["steps"])
        order = list(range(n)) + list(range(n - 2, -1, -1))  # forward, then back
        for pos, i in enumerate(order):
            s = w["steps"][i]
            where = f"{w['name']}, step {i + 1}"
            # One round trip: what the page shows now, and any text past its panel.
            shown = d.execute_script(SHOWN)
            if shown["counter"] != f"step {i + 1} of {n}":
                raise Disagree(f"{where}: counter shows '{shown['counter']}'")
            if (shown["ptr"], shown["val"], shown["level"]) != (s["ptr"], s["val"], s["level"]):
                raise Disagree(f"{where}: shows pointer {shown['ptr']}, value {shown['val']}, "
                               f"expected {s['ptr']}, {s['val']}")
            hit = shown["hit"]
            if len(hit) != 3 or hit[0] != s["ptr"] or hit[2] != s["val"]:
                raise Disagree(f"{where}: highlighted word {hit}, expected {s['ptr']} = {s['val']}")
            if shown["overflow"]:
                raise Disagree(f"{where} at {width} px: text overflows its panel: {shown['overflow']}")
            if pos < len(order) - 1:
                body.send_keys(Keys.ARROW_RIGHT if pos < n - 1 else Keys.ARROW_LEFT)
            steps += 1
        rows = d.find_elements("css selector", "#pages tbody tr")
        if len(rows) != len(w["pages"]):
            raise Disagree(f"{w['name']}: {len(rows)} page rows for {len(w['pages'])} pages")
        for r, (va, pinned, ref) in zip(rows, w["pages"]):
            cells = [c.text for c in r.find_elements("tag name", "td")]
            want = [va, pinned if pinned is not None else "not taken (slow path)", ref if ref is not None else "none"]
            bad = pinned is not None and pinned != ref
            if cells != want or ("bad" in (r.get_attribute("class") or "")) != bad:
                raise Disagree(f"{w['name']}: page row {cells} (marked {r.get_attribute('class')!r}), expected {want}")
        d.save_screenshot(os.path.join(outdir, f"{stem}-{k}-{w['name'].replace(' ', '_').replace(',', '')}-{width}.png"))
    return len(fk["variants"]), steps


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    outdir, pages = argv[0], argv[1:]
    os.makedirs(outdir, exist_ok=True)
    o = Options()
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"]:
        o.add_argument(a)
    o.binary_location = "/usr/bin/chromium"
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
    try:
        for width in (1000, 1400):
            d.set_window_size(width, 1000)
            for p in pages:
                try:
                    nv, ns = check_page(d, p, outdir)
                except Disagree as e:
                    print(f"explainer: {p} at {width} px: {e}")
                    return 1
                print(f"explainer: {p} at {width} px: {nv} variants, {ns} steps shown forward and back, as recorded")
    finally:
        d.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
