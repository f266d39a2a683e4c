"""Drive the console in headless Chromium (Selenium) against a running hookline dev.

Reads the test's setup as JSON on stdin, walks the console as a user would, saves a
screenshot after each step, and prints what it checked as JSON lines. Exits non-zero
at the first check that fails.
"""

import json
import os
import sys
import tempfile
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

setup = json.load(sys.stdin)
base = setup["url"]
shots = setup["screenshots"]
os.makedirs(shots, exist_ok=True)
for old in os.listdir(shots):  # this run's screenshots only
    if old.endswith(".png"):
        os.remove(os.path.join(shots, old))
checked = []


def check(what, ok, detail=""):
    if not ok:
        print(json.dumps({"failed": what, "detail": detail}), flush=True)
        sys.exit(1)
    checked.append(what)
    print(json.dumps({"checked": what}), flush=True)


def call(method, path, token, body=None):
    req = urllib.request.Request(base + path, method=method, headers={"authorization": f"Bearer {token}"})
    if body is not None:
        req.data = json.dumps(body).encode()
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status
    except urllib.error.HTTPError as e:
        return e.code


options = webdriver.ChromeOptions()
options.binary_location = os.environ.get("HOOKLINE_CHROMIUM", "/usr/bin/chromium")
for flag in [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
    f"--user-data-dir={tempfile.mkdtemp(prefix='hookline-chromium-')}",
]:
    options.add_argument(flag)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(
    options=options, service=Service(os.environ.get("HOOKLINE_CHROMEDRIVER", "/usr/bin/chromedriver"))
)
wait = WebDriverWait(driver, 15)
step = [0]


def shot(name):
    step[0] += 1
    driver.save_screenshot(os.path.join(shots, f"{step[0]:02d}-{name}.png"))


def visible(css):
    return wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))


def text_in(css, text):
    try:
        return wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
    except TimeoutException:
        return False


def no_alert():
    try:
        driver.switch_to.alert
        return False
    except NoAlertPresentException:
        return True


def browser_errors():
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


try:
    # Sign in with the org key.
    driver.get(base + "/console/")
    visible("#key").send_keys(setup["key"])
    driver.find_element(By.ID, "sign-in").click()
    visible("#nav-overview")
    check("signing in with an org key shows the console", True)
    stored = driver.execute_script("return sessionStorage.getItem('hookline.key')")
    check("the key is kept in sessionStorage", stored == setup["key"])
    check("no cookie holds it", driver.execute_script("return document.cookie") == "")
    check("the key is not in the URL", setup["key"] not in driver.current_url)

    # Overview: the chart and the totals.
    delivered = visible("#total-delivered strong").text.replace(",", "")
    check("the overview counts the delivered attempts", delivered.isdigit() and int(delivered) >= 1, delivered)
    check("the overview lists the failing endpoint", text_in("main", setup["fail_url"]))
    visible("canvas#chart")
    # The delivered and retrying colours of the chart's bars, as drawn.
    painted = driver.execute_script("""
        const c = document.getElementById('chart');
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const seen = {delivered: 0, retrying: 0};
        for (let i = 0; i < px.length; i += 4) {
          if (px[i] === 47 && px[i + 1] === 158 && px[i + 2] === 68) seen.delivered++;
          if (px[i] === 240 && px[i + 1] === 140 && px[i + 2] === 0) seen.retrying++;
        }
        return seen;""")
    check("the chart draws this minute's delivered and retrying attempts",
          painted["delivered"] > 0 and painted["retrying"] > 0, painted)
    shot("overview")

    # Events: the published event, then its page with the delivered attempt.
    driver.find_element(By.ID, "nav-events").click()
    link = visible(f'a[href="#/events/{setup["event_id"]}"]')
    check("a published event shows in the events list", link.text == "order.created")
    link.click()
    ok_section = visible(f'section.attempts[data-endpoint="{setup["ok_endpoint"]}"]')
    check("the event's page shows its delivered attempt with 200",
          "delivered" in ok_section.text and "200" in ok_section.text, ok_section.text)
    fail_section = visible(f'section.attempts[data-endpoint="{setup["fail_endpoint"]}"]')
    check("and the failing endpoint's attempt with 500", "500" in fail_section.text, fail_section.text)
    check("the payload is shown as JSON", '"order_id": "ord_1"' in visible("pre.payload").text)
    shot("event-attempts")

    # Replay to the endpoint that got it.
    ok_section.find_element(By.CSS_SELECTOR, "button.replay").click()
    check("replay to one endpoint is queued", text_in("#toast", "queued"))
    shot("replayed")

    # Endpoints: the one answering 500 shows as failing, with its code.
    driver.find_element(By.ID, "nav-endpoints").click()
    row = visible(f'a.ep-link[href="#/endpoints/{setup["fail_endpoint"]}"]').find_element(By.XPATH, "./ancestor::tr")
    check("an endpoint answering 500 shows as failing with the code",
          "failing" in row.text and "500" in row.text, row.text)
    shot("endpoints")

    # A payload holding markup is text.
    driver.get(f'{base}/console/#/events/{setup["xss_event_id"]}')
    payload = visible("pre.payload")
    check("markup in a payload renders as text", setup["xss"] in payload.text, payload.text)
    body = visible(f'section.attempts[data-endpoint="{setup["fail_endpoint"]}"] pre.body')
    check("markup in a response body renders as text", "<img src=y onerror=alert(2)>" in body.text, body.text)
    check("no element was made from either", driver.find_elements(By.CSS_SELECTOR, "main img") == [])
    check("no dialog opened", no_alert())
    shot("xss-as-text")

    # An event found by its id.
    driver.find_element(By.ID, "nav-events").click()
    visible("#find-id").send_keys(setup["event_id"])
    driver.find_element(By.ID, "apply").click()
    check("an event is found by its id", text_in("main h1", "order.created") and setup["event_id"] in driver.current_url)

    # An endpoint's page: send a test, rotate the secret, edit filters and headers.
    driver.find_element(By.ID, "nav-endpoints").click()
    visible(f'a.ep-link[href="#/endpoints/{setup["ok_endpoint"]}"]').click()
    visible("#send-test").click()
    check("send test shows the endpoint's answer", text_in("#action-result", "delivered") and text_in("#action-result", "200"))
    driver.find_element(By.ID, "rotate").click()
    wait.until(EC.alert_is_present()).accept()
    secret = visible("#new-secret code").text
    check("a rotated secret is shown once, new", secret.startswith("whsec_") and secret != setup["ok_secret"], secret)
    shot("endpoint-rotated")
    events_input = driver.find_element(By.ID, "edit-events")
    events_input.clear()
    events_input.send_keys("order.*, invoice.paid")
    headers_input = driver.find_element(By.ID, "edit-headers")
    headers_input.clear()
    headers_input.send_keys('{"X-Team": "billing"}')
    driver.find_element(By.ID, "save").click()
    check("editing filters and headers saves them", text_in("#toast", "Saved"))
    with urllib.request.urlopen(urllib.request.Request(
            f'{base}/v1/webhooks/{setup["ok_endpoint"]}', headers={"authorization": f'Bearer {setup["key"]}'})) as res:
        saved = json.load(res)
    check("and the API reads them back", saved["events"] == ["order.*", "invoice.paid"]
          and saved["headers"] == {"X-Team": "billing"}, saved)

    # Sources and schedules pages render.
    driver.find_element(By.ID, "nav-sources").click()
    check("sources show their ingest URL", text_in("main", setup["ingest_url"]))
    check("and the request refused today, with its reason", text_in("main", "missing_signature"))
    driver.find_element(By.ID, "nav-schedules").click()
    check("schedules show the job with its next run in UTC", text_in("main", "report.weekly") and text_in("main", "UTC"))
    check("and the recurring job of one user", text_in("main", "newsletter · user_42"))
    shot("schedules")
    row = visible(f'tr[data-job="{setup["job_id"]}"]')
    row.find_element(By.CSS_SELECTOR, "button.danger").click()
    wait.until(EC.alert_is_present()).accept()
    check("cancelling a job asks first, then cancels it", text_in("#toast", "Cancelled"))
    wait.until(EC.invisibility_of_element_located((By.CSS_SELECTOR, f'tr[data-job="{setup["job_id"]}"] button.danger')))

    errors = browser_errors()
    check("the console ran under its policy with no errors", not errors, errors)

    # The portal link: this org's endpoints only.
    driver.find_element(By.ID, "sign-out").click()
    visible("#key")
    driver.get(setup["portal_url"])
    visible("a.ep-link")
    token = driver.execute_script("return sessionStorage.getItem('hookline.key')")
    check("the portal token leaves the URL", token and token not in driver.current_url, driver.current_url)
    shown = sorted(a.get_attribute("href").split("/")[-1] for a in driver.find_elements(By.CSS_SELECTOR, "a.ep-link"))
    check("the portal shows only the org's endpoints", shown == sorted(setup["org_endpoints"]), shown)
    check("and not another org's", setup["other_url"] not in driver.find_element(By.TAG_NAME, "main").text)
    nav = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#nav a")]
    check("the portal offers endpoints and deliveries only", nav == ["Endpoints", "Deliveries"], nav)
    shot("portal")
    for path, allowed in [
        (f'/v1/orgs/{setup["org_id"]}', (401, 403)),
        ("/v1/sources", (401, 403)),
        ("/v1/api-keys", (401, 403)),
        ("/v1/schedules", (401, 403)),
        ("/v1/portal-sessions", (401, 403)),
    ]:
        method = "POST" if path == "/v1/portal-sessions" else "GET"
        got = call(method, path, token, {} if method == "POST" else None)
        check(f"the portal token gets {got} from {method} {path}", got in allowed, got)
    check("the portal token reads the org's webhooks", call("GET", "/v1/webhooks", token) == 200)

    # Revoked: the next page load asks to sign in.
    check("the org deletes the portal session", call("DELETE", f'/v1/portal-sessions/{setup["portal_id"]}', setup["key"]) == 204)
    check("the revoked token gets 401", call("GET", "/v1/webhooks", token) == 401)
    driver.refresh()
    check("the console then asks to sign in again", text_in("main", "not accepted"))
    shot("portal-revoked")
finally:
    driver.quit()

print(json.dumps({"done": len(checked)}), flush=True)
