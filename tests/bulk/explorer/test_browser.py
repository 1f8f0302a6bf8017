"""The key-value explorer in a real browser: headless Chromium (selenium) against `kvbatch serve`.

The served stack (build/spin.wasm on `wasmtime serve`, the router, the store server; store
`default` in memory, `backup` in SQLite) and the browser each start once for this module and are
stopped by PID at the end, whatever happens. Each test starts from empty stores, no fault
plan and a fresh page with nothing in `sessionStorage`.

Needs Debian's `chromium` and `chromium-driver` (`./dev.sh test` installs them with apt); the
module is skipped, saying so, where they are missing. The screenshot in the docs
(docs/img/explorer.png) is taken by `test_a_screenshot_of_the_page_is_taken`: it is written
to the path in `KVBATCH_EXPLORER_SCREENSHOT` when set, else into the test's temp directory.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, TypeVar

import pytest
from http_expectations import GRANTED, TOKEN
from served import write_manifest

from kvbatch_host.faults import FaultPlan
from kvbatch_host.serve import manifest as manifests
from kvbatch_host.serve import server
from kvbatch_host.setup import HostOptions

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the test extra pins it)")
from selenium.common.exceptions import NoAlertPresentException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

pytestmark = [pytest.mark.component, pytest.mark.wasmtime_cli, pytest.mark.browser]

WAIT_S = 20.0
"""The longest any wait for the page lasts."""
XSS_KEY = "<img src=x onerror=alert(1)>"
T = TypeVar("T")


def _descendants(pid: int) -> List[int]:
    found: List[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return found
    for task in tasks:
        try:
            children = [int(p) for p in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
        for child in children:
            found += [child, *_descendants(child)]
    return found


def _alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie, ended but not yet reaped by its parent, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _kill(pids: List[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[server.Served]:
    directory = tmp_path_factory.mktemp("explorer-serve")
    manifest = manifests.load(write_manifest(directory), environ={"SPIN_VARIABLE_KVBATCH_TOKEN": TOKEN})
    options = HostOptions(stores=("default=memory:", f"backup=sqlite:{directory / 'backup.db'}"),
                          events_path=str(directory / "events.jsonl"))  # an event log: the fault layers are in place
    running = server.start(manifest, ("127.0.0.1", 0), options)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def chrome(tmp_path_factory: pytest.TempPathFactory) -> Iterator["webdriver.Chrome"]:
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        pytest.skip("Debian's chromium and chromium-driver are not installed (./dev.sh test installs them with apt)")
    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1360,1000", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(chromedriver)
    browser = webdriver.Chrome(options=options, service=service)
    pid = service.process.pid
    browser.set_page_load_timeout(WAIT_S)
    browser.set_script_timeout(WAIT_S)
    browser.downloads = downloads  # type: ignore[attr-defined]
    try:
        yield browser
    finally:
        family = [pid, *_descendants(pid)]
        try:
            browser.quit()
        finally:
            _kill(family)  # whatever quit left behind
        assert [process for process in family if _alive(process)] == []


class Explorer:
    """The page in the browser, as a user works it (and `items` reads what a store really holds)."""

    def __init__(self, browser: "webdriver.Chrome", running: server.Served) -> None:
        self.browser = browser
        self.running = running
        self.url = running.url + "/kv/"

    # -- the stores behind the page ---------------------------------------------------------

    def backend(self, store: str) -> object:
        backend = self.running.registry.backends[store]
        return getattr(backend, "inner", backend)

    def seed(self, items: Dict[str, bytes], store: str = "default") -> None:
        self.backend(store).set_many(store, list(items.items()))  # type: ignore[attr-defined]

    def items(self, store: str) -> Dict[str, bytes]:
        return dict(self.backend(store).all_items(store))  # type: ignore[attr-defined]

    def faults(self, *rules: str) -> None:
        for layer in self.running.layers:
            layer.use_plan(FaultPlan.parse(list(rules)))

    # -- the page ---------------------------------------------------------------------------

    def open(self, url: Optional[str] = None) -> None:
        self.browser.get(url or self.url)
        self.settle()

    def el(self, element_id: str) -> WebElement:
        return self.browser.find_element(By.ID, element_id)

    def wait(self, condition: Callable[[], T], what: str) -> T:
        try:
            return WebDriverWait(self.browser, WAIT_S, poll_frequency=0.05).until(lambda _: condition())
        except TimeoutException:
            raise AssertionError(f"waited {WAIT_S:.0f} s for {what}; message: {self.message()!r}, "
                                 f"status: {self.el('status').text!r}") from None

    def settle(self) -> None:
        """Waits until nothing the user started is under way (`aria-busy` on <main>)."""
        self.wait(lambda: self.browser.find_element(By.TAG_NAME, "main").get_attribute("aria-busy") == "false",
                  "the page to finish what it was doing")

    def sign_in(self, token: str = TOKEN) -> None:
        field = self.wait(lambda: self.el("token") if self.el("token").is_displayed() else None, "the sign-in form")
        field.send_keys(token, Keys.ENTER)
        self.settle()

    def message(self) -> str:
        box = self.browser.find_element(By.ID, "message")
        return box.text if box.is_displayed() else ""

    def keys(self) -> List[str]:
        return [button.text for button in self.browser.find_elements(By.CSS_SELECTOR, "#key-list button.key")]

    def key_button(self, key: str) -> WebElement:
        for button in self.browser.find_elements(By.CSS_SELECTOR, "#key-list button.key"):
            if button.text == key:
                return button
        raise AssertionError(f"key {key!r} is not listed; listed: {self.keys()}")

    def select(self, *keys: str) -> None:
        for key in keys:
            self.browser.find_element(By.CSS_SELECTOR, f'#key-list input[aria-label="Select {key}"]').click()

    def click(self, element_id: str) -> None:
        self.el(element_id).click()
        self.settle()

    def view(self, key: str) -> None:
        self.key_button(key).click()
        self.settle()

    def type_into(self, element_id: str, text: str) -> None:
        field = self.el(element_id)
        field.clear()
        field.send_keys(text)

    def outcomes(self) -> Dict[str, List[str]]:
        rows = self.browser.find_elements(By.CSS_SELECTOR, "#outcomes-rows tr")
        return {cells[0].text: [cells[1].text, cells[2].text]
                for cells in (row.find_elements(By.TAG_NAME, "td") for row in rows)}


@pytest.fixture
def page(chrome: "webdriver.Chrome", served: server.Served) -> Iterator[Explorer]:
    for name in GRANTED:
        backend = served.registry.backends[name]
        inner = getattr(backend, "inner", backend)
        inner.delete_many(name, [key for key, _ in inner.all_items(name)])
    for layer in served.layers:
        layer.use_plan(FaultPlan())
    explorer = Explorer(chrome, served)
    explorer.open()  # settled: a sign-in still under way would store its token again
    chrome.execute_script("window.sessionStorage.clear()")
    chrome.get_log("browser")  # start each test with an empty console
    for download in chrome.downloads.iterdir():  # type: ignore[attr-defined]
        download.unlink()
    yield explorer


def signed_in(page: Explorer, items: Dict[str, bytes]) -> Explorer:
    page.seed(items)
    page.open()
    page.sign_in()
    return page


# -- signing in ------------------------------------------------------------------------------------


def test_signing_in_with_the_token_lists_the_stores_keys(page: Explorer) -> None:
    page.seed({"user:2": b"bob", "user:1": b"ann", "order:7": b"{}"})
    page.open()
    assert page.el("login").is_displayed() and not page.el("workspace").is_displayed()
    page.sign_in()
    assert page.keys() == ["order:7", "user:1", "user:2"]
    assert page.el("count").text.startswith('3 keys on page 1 of store "default"')
    assert page.browser.execute_script("return sessionStorage.getItem('kvbatch-explorer-token')") == TOKEN


def test_a_wrong_token_is_refused_with_a_clear_message(page: Explorer) -> None:
    page.open()
    page.sign_in("x" * len(TOKEN))
    assert page.message() == "The token was refused (401: invalid token). Sign in with the component's access token."
    assert page.el("login").is_displayed() and not page.el("workspace").is_displayed()
    assert page.browser.execute_script("return sessionStorage.getItem('kvbatch-explorer-token')") is None


def test_the_token_in_the_url_fragment_signs_in_and_leaves_the_address_bar(page: Explorer) -> None:
    page.seed({"a": b"1"})
    page.open(page.running.url + "/kv#token=" + TOKEN)  # the bare route: redirected to /kv/, fragment kept
    assert page.keys() == ["a"]
    assert page.browser.current_url == page.url


def test_signing_out_forgets_the_token(page: Explorer) -> None:
    signed_in(page, {"a": b"1"})
    page.click("sign-out")
    assert page.el("login").is_displayed()
    page.open()
    assert page.el("login").is_displayed() and page.keys() == []


# -- listing ---------------------------------------------------------------------------------------


def test_the_filter_narrows_the_page_and_the_count_says_how_many_match(page: Explorer) -> None:
    signed_in(page, {"user:1": b"", "user:2": b"", "order:1": b"", "order:22": b""})
    page.type_into("filter", "2")
    assert page.keys() == ["order:22", "user:2"]
    assert page.el("count").text.startswith('2 of 4 keys on page 1 of store "default" match "2"')


def test_a_prefix_lists_only_its_keys(page: Explorer) -> None:
    signed_in(page, {"user:1": b"", "user:2": b"", "order:1": b""})
    page.type_into("prefix", "user:")
    page.el("prefix").send_keys(Keys.ENTER)
    page.settle()
    assert page.keys() == ["user:1", "user:2"]


def test_pages_follow_the_cursor_forward_and_back(page: Explorer) -> None:
    keys = [f"k:{i:03d}" for i in range(60)]
    signed_in(page, {key: b"v" for key in keys})
    Select(page.el("page-size")).select_by_visible_text("25")
    page.settle()
    assert page.keys() == keys[:25] and page.el("count").text.endswith("more on the next page.")
    page.click("next-page")
    assert page.keys() == keys[25:50] and page.el("page-label").text == "Page 2"
    page.click("next-page")
    assert page.keys() == keys[50:] and page.el("count").text.endswith("no more pages.")
    assert not page.el("next-page").is_enabled()
    page.click("prev-page")
    assert page.keys() == keys[25:50]


def test_count_all_pages_through_every_key_of_the_prefix(page: Explorer) -> None:
    signed_in(page, {f"p:{i:04d}": b"" for i in range(1500)} | {"q": b""})
    page.type_into("prefix", "p:")
    page.click("count-all")
    assert page.message() == '1,500 keys in store "default" with prefix "p:".'


# -- one value -------------------------------------------------------------------------------------


def test_a_binary_value_is_shown_as_hex_and_base64(page: Explorer) -> None:
    raw = bytes([0, 1, 2, 0xFF, 0xFE]) + b"AB"
    signed_in(page, {"bin": raw})
    page.view("bin")
    assert page.el("value-kind").text == "binary (not UTF-8), 7 bytes: hex and base64"
    assert page.el("value-hex").text == "00000000  " + "00 01 02 ff fe 41 42".ljust(47) + "  |.....AB|"
    assert page.el("value-base64").text == base64.b64encode(raw).decode()
    assert not page.el("value-text").is_displayed()


def test_a_json_value_is_shown_formatted(page: Explorer) -> None:
    signed_in(page, {"doc": b'{"name":"ann","tags":[1,2]}'})
    page.view("doc")
    assert page.el("value-kind").text == "JSON, formatted (27 bytes)"
    assert page.el("value-text").text == json.dumps({"name": "ann", "tags": [1, 2]}, indent=2)


def test_a_text_value_is_shown_as_it_is(page: Explorer) -> None:
    signed_in(page, {"t": "héllo\nwörld".encode()})
    page.view("t")
    assert page.el("value-kind").text == "text (UTF-8), 13 bytes"
    assert page.el("value-text").text == "héllo\nwörld"


def test_an_edited_value_is_saved_to_the_store(page: Explorer) -> None:
    signed_in(page, {"greeting": b"hello"})
    page.view("greeting")
    page.click("edit")
    page.type_into("edit-value", "hello, world")
    page.click("save")
    assert page.message() == 'Saved "greeting" in store "default".'
    assert page.items("default") == {"greeting": b"hello, world"}
    assert page.el("value-text").text == "hello, world"


def test_a_binary_value_is_edited_as_base64_and_saved_byte_for_byte(page: Explorer) -> None:
    signed_in(page, {"bin": b"\xff\x00"})
    page.view("bin")
    page.click("edit")
    assert page.el("edit-value").get_attribute("value") == "/wA=" and page.el("edit-encoding").get_attribute("value") == "base64"
    page.type_into("edit-value", base64.b64encode(b"\xfe\x01\x02").decode())
    page.click("save")
    assert page.items("default") == {"bin": b"\xfe\x01\x02"}
    assert page.el("value-base64").text == "/gEC"


def test_a_new_key_is_created_with_create_only(page: Explorer) -> None:
    signed_in(page, {})
    page.click("new-key")
    assert page.el("create-only").is_selected()
    page.type_into("edit-key", "fresh")
    page.type_into("edit-value", "new value")
    page.click("save")
    assert page.items("default") == {"fresh": b"new value"} and page.keys() == ["fresh"]


def test_create_only_refuses_a_key_that_exists_and_says_why(page: Explorer) -> None:
    signed_in(page, {"taken": b"old"})
    page.click("new-key")
    page.type_into("edit-key", "taken")
    page.type_into("edit-value", "new")
    page.click("save")
    assert page.message() == "Not saved: \"taken\" failed: key 'taken' already holds a value."
    assert page.items("default") == {"taken": b"old"}


# -- many keys -------------------------------------------------------------------------------------


def test_a_bulk_delete_shows_each_keys_outcome_when_one_key_fails(page: Explorer) -> None:
    signed_in(page, {"d:1": b"1", "d:2": b"2", "d:3": b"3", "keep": b"k"})
    page.faults("op=delete,key=d:2,error=other:disk full")
    page.select("d:1", "d:2", "d:3")
    page.click("delete-selected")
    assert page.el("delete-question").text == 'Delete 3 keys from store "default"?'
    page.click("delete-yes")
    assert page.el("outcomes-summary").text == "2 keys deleted, 1 failed, 0 unknown."
    assert page.outcomes() == {"d:2": ["failed", "the store reported an error"],
                               "d:1": ["deleted", ""], "d:3": ["deleted", ""]}
    assert page.items("default") == {"d:2": b"2", "keep": b"k"}
    assert page.keys() == ["d:2", "keep"] and page.el("selected-count").text == "1 selected"


def test_selected_keys_are_copied_under_a_prefix_into_another_store(page: Explorer) -> None:
    signed_in(page, {"user:1": b"ann", "user:2": b"bob", "user:3": b"cy"})
    page.type_into("prefix", "user:")
    page.el("prefix").send_keys(Keys.ENTER)
    page.settle()
    page.select("user:1", "user:3")
    page.type_into("copy-prefix", "people/")
    page.type_into("copy-store", "backup")
    page.click("copy-selected")
    assert page.el("outcomes-summary").text == "2 keys copied, 0 failed, 0 unknown."
    assert page.outcomes()["user:1"] == ["copied", 'to "people/1" in store "backup"']
    assert page.items("backup") == {"people/1": b"ann", "people/3": b"cy"}


def test_an_export_downloaded_then_imported_into_another_store_round_trips(page: Explorer) -> None:
    values = {"t:1": b"text", "t:2": bytes(range(256)), "t:3": "héllo".encode(), "other": b"x"}
    signed_in(page, values)
    page.type_into("prefix", "t:")
    page.click("export")
    assert page.message() == 'Exported 3 keys from store "default" with prefix "t:" as default-t.ndjson.'
    downloads: Path = page.browser.downloads  # type: ignore[attr-defined]
    exported = page.wait(lambda: next((p for p in downloads.glob("*.ndjson")), None), "the download")
    lines = exported.read_text().splitlines()
    assert exported.name == "default-t.ndjson" and sorted(json.loads(line)["key"] for line in lines) == ["t:1", "t:2", "t:3"]
    page.type_into("store", "backup")
    page.el("store").send_keys(Keys.ENTER)
    page.settle()
    page.el("import-file").send_keys(str(exported))
    page.click("import")
    assert page.el("outcomes-summary").text == "3 keys imported, 0 failed, 0 unknown."
    assert page.el("progress-label").text == "Imported 3 of 3 lines"
    assert page.el("progress").get_attribute("value") == page.el("progress").get_attribute("max") == "3"
    assert page.items("backup") == {k: v for k, v in values.items() if k.startswith("t:")}
    assert page.keys() == ["t:1", "t:2", "t:3"]


def test_a_long_import_goes_in_batches_with_its_progress_shown(page: Explorer, tmp_path: Path) -> None:
    signed_in(page, {})
    source = tmp_path / "many.ndjson"
    source.write_text("".join(json.dumps({"key": f"n:{i:04d}", "value": str(i)}) + "\n" for i in range(2500)))
    page.el("import-file").send_keys(str(source))
    page.click("import")
    assert page.el("progress-label").text == "Imported 2,500 of 2,500 lines"
    assert page.el("outcomes-summary").text == "2,500 keys imported, 0 failed, 0 unknown."
    assert len(page.items("default")) == 2500 and page.items("default")["n:2499"] == b"2499"


def test_an_import_whose_write_may_have_landed_shows_that_key_as_unknown(page: Explorer, tmp_path: Path) -> None:
    signed_in(page, {})
    page.faults("op=set,key=i:2,in-doubt=other:timeout", "op=get,key=i:2,error=other:down")  # no read-back either
    source = tmp_path / "doubt.ndjson"
    source.write_text("".join(json.dumps({"key": f"i:{i}", "value": "v"}) + "\n" for i in range(1, 4)))
    page.el("import-file").send_keys(str(source))
    page.click("import")
    assert page.el("outcomes-summary").text == "2 keys imported, 0 failed, 1 unknown."
    assert page.outcomes() == {"i:2": ["unknown", "the store reported an error"],
                               "i:1": ["imported", ""], "i:3": ["imported", ""]}


def test_an_import_line_over_the_value_limit_is_a_clear_413_naming_the_line(page: Explorer, tmp_path: Path) -> None:
    signed_in(page, {})
    source = tmp_path / "big.ndjson"
    source.write_text('{"key": "ok", "value": "fine"}\n\n' + json.dumps({"key": "big", "value": "x" * (1024 * 1024 + 1)}) + "\n")
    page.el("import-file").send_keys(str(source))
    page.click("import")
    assert page.message().startswith("Too large (413: line 3: value is 1048577 bytes; values are limited to 1048576 bytes).")
    assert page.message().endswith("Lines 1 to 3 of the file were not imported.")
    assert page.items("default") == {}


# -- failures --------------------------------------------------------------------------------------


def test_a_store_not_granted_is_a_clear_403_message(page: Explorer) -> None:
    signed_in(page, {})
    page.type_into("store", "secret")
    page.el("store").send_keys(Keys.ENTER)
    page.settle()
    assert page.message() == ("Access denied (403: this component is not granted store 'secret'). "
                              "A store must be listed in the component's key_value_stores.")
    assert page.el("count").text == "" and page.keys() == []
    assert page.el("key-list").text == "The keys could not be listed (see the message above)."
    options = page.browser.find_elements(By.CSS_SELECTOR, "#known-stores option")
    assert [option.get_attribute("value") for option in options] == ["default"]  # only stores that answered are offered


def test_a_store_failure_is_a_clear_503_message(page: Explorer) -> None:
    signed_in(page, {"a": b"1"})
    page.faults("op=list-keys,error=other:backend down")
    page.el("prefix").send_keys(Keys.ENTER)
    page.settle()
    assert page.message() == "The store failed (503: the store reported an error). Try again in a moment."


# -- safety and access -----------------------------------------------------------------------------


def test_a_key_named_like_markup_renders_as_text(page: Explorer) -> None:
    signed_in(page, {XSS_KEY: b"<script>alert(2)</script>"})
    assert page.keys() == [XSS_KEY]
    page.view(XSS_KEY)
    assert page.el("value-key").text == XSS_KEY and page.el("value-text").text == "<script>alert(2)</script>"
    page.select(XSS_KEY)
    page.click("delete-selected")
    page.click("delete-yes")
    assert list(page.outcomes()) == [XSS_KEY]
    assert page.browser.execute_script("return document.querySelectorAll('img, main script').length") == 0
    with pytest.raises(NoAlertPresentException):
        page.browser.switch_to.alert.text


def test_the_page_runs_without_a_content_security_policy_violation(page: Explorer) -> None:
    signed_in(page, {"a": b"{}", "b": b"\xff"})
    page.view("a")
    page.view("b")
    console = page.browser.get_log("browser")
    assert [entry["message"] for entry in console if "Content Security Policy" in entry["message"]] == []
    assert [entry["message"] for entry in console if entry["level"] == "SEVERE"] == []


def test_the_keys_and_the_value_are_reached_with_the_keyboard(page: Explorer) -> None:
    signed_in(page, {"first": b"one"})
    reached: List[str] = []
    body = page.browser.find_element(By.TAG_NAME, "body")
    body.click()
    for _ in range(40):
        page.browser.switch_to.active_element.send_keys(Keys.TAB)
        active = page.browser.switch_to.active_element
        reached.append(active.get_attribute("id") or active.text)
        if active.text == "first":
            active.send_keys(Keys.ENTER)
            break
    page.settle()
    assert "first" in reached and {"prefix", "filter", "select-all"} <= set(reached)
    assert page.el("value-text").text == "one"


def test_a_screenshot_of_the_page_is_taken(page: Explorer, tmp_path: Path) -> None:
    signed_in(page, {"user:1": b'{"name":"ann","roles":["admin","dev"],"active":true}', "user:2": b'{"name":"bob"}',
                     "user:3": b"\x89PNG\r\n\x1a\n\x00\x00", "session:9f2c": b"expires=1767225600", "config/theme": b"dark"})
    page.faults("op=delete,key=user:2,error=other:disk full")
    page.select("user:2", "session:9f2c")
    page.click("delete-selected")
    page.click("delete-yes")
    page.view("user:1")
    page.browser.set_window_size(1360, 1280)  # the outcomes table below the panels too
    target = Path(os.environ.get("KVBATCH_EXPLORER_SCREENSHOT") or tmp_path / "explorer.png")
    target.parent.mkdir(parents=True, exist_ok=True)
    page.browser.execute_script("window.scrollTo(0, 0)")
    assert page.browser.save_screenshot(str(target))
    page.browser.set_window_size(1360, 1000)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size > 20_000
