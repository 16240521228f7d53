"""Headless Chromium for the web console's browser tests (web_console_test.py,
web_scale_test.py): Debian's chromium + chromium-driver driven by
python3-selenium, a fresh profile per run, downloads into a directory of the
test's own, and waits that are WebDriverWait conditions with deadlines.
Every page the tests load comes from a collector on 127.0.0.1."""
import csv, os, shutil, sys, tempfile, time

try:
    import selenium  # noqa: F401
except ImportError:  # a python3 other than Debian's (pyenv): use the Debian package's copy
    sys.path.append("/usr/lib/python3/dist-packages")

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Quiet, offline, reproducible: no QUIC, no updates, no sync, no first-run UI, no sandbox (root in CI).
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1440,1000")


def browser_missing():
    """Why the browser tests cannot run here, or None."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.path.exists(path):
            return f"{path} not found (apt-get install {package})"
    try:
        import selenium  # noqa: F401,F811
    except ImportError:
        return "selenium not found (apt-get install python3-selenium)"
    return None


class Browser:
    """One headless Chromium with its own profile and download directory."""

    def __init__(self, work, screenshots):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        self.profile = tempfile.mkdtemp(prefix="chromium-", dir=work)
        self.downloads = os.path.join(work, "downloads")
        os.makedirs(self.downloads, exist_ok=True)
        self.screenshots = screenshots
        os.makedirs(screenshots, exist_ok=True)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile}")
        options.add_experimental_option("prefs", {
            "download.default_directory": self.downloads, "download.prompt_for_download": False,
            "download.directory_upgrade": True, "safebrowsing.enabled": False})
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(30)
        self.driver.set_script_timeout(30)
        # Headless Chromium writes downloads only where it is told to, through CDP as well.
        self.driver.execute_cdp_cmd("Page.setDownloadBehavior",
                                    {"behavior": "allow", "downloadPath": self.downloads})

    def close(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    # ---- waiting and reading ------------------------------------------------------------------
    def wait(self, what, condition, timeout):
        """Polls `condition(driver)` every 50 ms until it is truthy; returns its value. Fails
        with `what` after `timeout` s."""
        from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.05,
                                 ignored_exceptions=(StaleElementReferenceException,)).until(condition)
        except TimeoutException:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; the page shows: "
                                 f"{self.text('main')[:1500]!r}; error box: {self.text('#error')!r}")

    def find(self, css):
        from selenium.webdriver.common.by import By
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css):
        """The visible text of the first element matching `css` ("" when none)."""
        found = self.find(css)
        try:
            return found[0].text if found else ""
        except Exception:  # went stale between find and read
            return ""

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def table(self, css):
        """Rows of a table as lists of cell texts, read in one script call (consistent and fast)."""
        return self.js("""
            const t = document.querySelector(arguments[0]);
            if (!t || !t.tBodies.length) return [];
            return [...t.tBodies[0].rows].map(r => [...r.cells].map(c => c.innerText));""", css)

    FLEET_ROWS = "#fleet-table .fbody > [role=row]"

    def fleet_rows(self):
        """How many device rows the fleet table holds."""
        return self.js("return document.querySelectorAll(arguments[0]).length", self.FLEET_ROWS)

    def fleet_cell(self, device, col):
        """The text of one cell of the fleet table (textContent: rows off screen are not laid
        out, so innerText would not see them)."""
        return self.js("""
            const tr = [...document.querySelectorAll(arguments[2])].find(r => r.dataset.device === arguments[0]);
            const td = tr && tr.querySelector('[data-col="' + arguments[1] + '"]');
            return td ? td.textContent : null;""", device, col, self.FLEET_ROWS)

    def select(self, css, value):
        from selenium.webdriver.support.ui import Select
        Select(self.find(css)[0]).select_by_value(value)

    def go(self, base, hash_path):
        self.driver.get(base + "/" + hash_path)

    def screenshot(self, name):
        path = os.path.join(self.screenshots, name)
        self.driver.save_screenshot(path)
        return path

    def console_errors(self):
        """Browser console entries of level SEVERE (CSP violations, script errors, failed loads)."""
        try:
            return [e for e in self.driver.get_log("browser") if e.get("level") == "SEVERE"]
        except Exception:
            return []

    # ---- page steps ---------------------------------------------------------------------------
    def login(self, base, token, timeout=15):
        """Opens the page, sees the login form, logs in with `token`; returns once the page left
        the login form."""
        self.driver.get(base + "/")
        self.wait("the login form", lambda d: self.find("#login-form #token"), timeout)
        self.find("#token")[0].send_keys(token)
        self.find("#login-submit")[0].click()
        self.wait("the page after login", lambda d: not self.find("#login-form") and self.find("#nav:not([hidden])"),
                  timeout)

    def wait_download(self, predicate, timeout=30):
        """A finished download (no .crdownload) whose file name satisfies `predicate`."""
        def done(_):
            names = [n for n in os.listdir(self.downloads) if not n.endswith(".crdownload")]
            hits = [n for n in names if predicate(n)]
            return os.path.join(self.downloads, hits[0]) if hits else None
        return self.wait("a download in " + self.downloads, done, timeout)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def monotonic_ms():
    return time.monotonic() * 1000
