"""The embeddable widget in headless Chromium against the real server and the trained helpdesk bot.

Each test gets its own server port, which is its own origin, so localStorage starts empty.
Screenshots go to the `artifacts_dir` fixture for people to look at.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
from aiohttp import web

from smallbot.connectors.web import WebSettings

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FAQ_QUESTION = "How do I reset my password?"
WAIT = 45  # seconds; generous because CI machines are shared. Not a timing assertion.


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not Path(CHROMIUM).exists() or not Path(CHROMEDRIVER).exists():
        pytest.skip("needs chromium and chromedriver (apt: chromium chromium-driver, see .ci/apt-packages.txt)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1280,860",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(WAIT)
    yield driver
    driver.quit()


class Widget:
    """The widget as a user sees it: reached through its open shadow root."""

    def __init__(self, driver):
        self.driver = driver

    @property
    def host(self):
        return WebDriverWait(self.driver, WAIT).until(lambda d: d.find_element(By.CSS_SELECTOR, "smallbot-widget"))

    def find(self, selector: str):
        return self.host.shadow_root.find_element(By.CSS_SELECTOR, selector)

    def find_all(self, selector: str):
        return self.host.shadow_root.find_elements(By.CSS_SELECTOR, selector)

    def open(self) -> None:
        if self.host.get_attribute("data-open") != "true":
            self.find(".launcher").click()
        self.wait(lambda: self.host.get_attribute("data-connection") == "open", "the WebSocket to open")

    def ask(self, text: str) -> None:
        count = len(self.bot_replies())
        box = self.find("#smallbot-input")
        box.send_keys(text)
        box.send_keys(Keys.ENTER)
        self.wait(lambda: len(self.bot_replies()) > count, f"a reply to {text!r}")

    def bot_replies(self):
        """Finished bot bubbles (not the greeting, not one still streaming)."""
        return [m for m in self.find_all(".msg.bot") if "greeting" not in m.get_attribute("class")
                and "pending" not in m.get_attribute("class")]

    def texts(self, selector: str) -> list[str]:
        return [m.find_element(By.CSS_SELECTOR, ".text").get_attribute("textContent") for m in self.find_all(selector)]

    def wait(self, condition, what: str) -> None:
        WebDriverWait(self.driver, WAIT, poll_frequency=0.1).until(lambda d: condition(), message=f"waiting for {what}")


def feedback_scores(bot, conversation_id: str) -> list[int]:
    with sqlite3.connect(bot.store.path) as db:
        return [r[0] for r in db.execute("SELECT score FROM feedback WHERE conversation_id=?", (conversation_id,))]


def faq_answer(bot, question: str) -> str:
    return next(e.answer for e in bot.knowledge.entries if e.question == question)


def words(markdown: str) -> str:
    """The words of an FAQ answer as its rendered bubble's textContent has them: link labels without their
    targets, no emphasis markers, and no whitespace (paragraphs and list items join without any)."""
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", markdown)
    text = re.sub(r"(\*\*|`)", "", text)
    return "".join(text.split())


def rendered_words(reply) -> str:
    return "".join(reply.find_element(By.CSS_SELECTOR, ".text").get_attribute("textContent").split())


def test_widget_answers_an_faq_question_on_the_demo_page(browser, live_server, helpdesk_bot, artifacts_dir):
    browser.get(live_server.url + "/")
    widget = Widget(browser)
    launcher = widget.find(".launcher")
    assert launcher.get_attribute("aria-expanded") == "false"
    widget.open()
    assert launcher.get_attribute("aria-expanded") == "true"
    assert widget.find(".panel").get_attribute("role") == "dialog"
    assert widget.find(".log").get_attribute("role") == "log"
    widget.ask(FAQ_QUESTION)
    reply = widget.bot_replies()[-1]
    assert "kind-answer" in reply.get_attribute("class")
    assert rendered_words(reply) == words(faq_answer(helpdesk_bot, FAQ_QUESTION))
    assert "**Forgot password?**" in faq_answer(helpdesk_bot, FAQ_QUESTION)  # the answer's Markdown, rendered:
    assert [b.get_attribute("textContent") for b in reply.find_elements(By.CSS_SELECTOR, ".text strong")] == [
        "Forgot password?"]
    assert FAQ_QUESTION in reply.find_element(By.CSS_SELECTOR, ".source").text
    browser.save_screenshot(str(artifacts_dir / "web-widget-answer.png"))
    # thumbs up reaches the bot's store under this conversation
    reply.find_element(By.CSS_SELECTOR, ".rate-up").click()
    conversation = browser.execute_script(
        "return JSON.parse(localStorage.getItem('smallbot:' + location.origin)).conversation_id")
    widget.wait(lambda: feedback_scores(helpdesk_bot, conversation) == [1], "the feedback to be stored")
    assert reply.find_element(By.CSS_SELECTOR, ".rate-up").get_attribute("aria-pressed") == "true"


def test_clicking_a_suggestion_answers_it(browser, live_server, helpdesk_bot, artifacts_dir):
    browser.get(live_server.url + "/")
    widget = Widget(browser)
    widget.open()
    widget.ask("password")
    buttons = widget.find_all(".suggestion")
    assert buttons, "a one-word question should get 'did you mean' suggestions"
    picked = buttons[0].text
    browser.save_screenshot(str(artifacts_dir / "web-widget-suggestions.png"))
    count = len(widget.bot_replies())
    buttons[0].click()
    widget.wait(lambda: len(widget.bot_replies()) > count, "the answer to the picked suggestion")
    assert widget.texts(".msg.user")[-1] == picked
    assert rendered_words(widget.bot_replies()[-1]) == words(faq_answer(helpdesk_bot, picked))
    assert not widget.find_all(".suggestion"), "suggestions are gone once one is picked"


def test_history_and_conversation_survive_a_reload(browser, live_server, helpdesk_bot, artifacts_dir):
    browser.get(live_server.url + "/")
    widget = Widget(browser)
    widget.open()
    widget.ask(FAQ_QUESTION)
    widget.ask("hello")
    before_users, before_bots = widget.texts(".msg.user"), widget.texts(".msg.bot")
    conversation = browser.execute_script(
        "return JSON.parse(localStorage.getItem('smallbot:' + location.origin)).conversation_id")
    browser.refresh()
    widget = Widget(browser)
    widget.wait(lambda: widget.host.get_attribute("data-open") == "true", "the widget to reopen after reload")
    assert widget.texts(".msg.user") == before_users == [FAQ_QUESTION, "hello"]
    assert widget.texts(".msg.bot") == before_bots
    browser.save_screenshot(str(artifacts_dir / "web-widget-after-reload.png"))
    # the conversation goes on under the same id, and the server logged it under that id
    widget.open()
    widget.ask("thanks")
    assert [turn["text"] for turn in helpdesk_bot.store.history(conversation)] == [FAQ_QUESTION, "hello", "thanks"]


def test_an_xss_payload_is_rendered_as_text(browser, live_server, artifacts_dir):
    payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
    browser.get(live_server.url + "/")
    widget = Widget(browser)
    widget.open()
    widget.ask(payload)
    assert widget.texts(".msg.user")[-1] == payload
    assert not widget.find_all("img") and not widget.find_all(".msg script")
    assert browser.execute_script("return window.__xss === undefined")
    browser.refresh()  # and again when the history is rendered from storage
    widget = Widget(browser)
    widget.wait(lambda: widget.texts(".msg.user") == [payload], "the history to render")
    assert not widget.find_all("img")
    assert browser.execute_script("return window.__xss === undefined")
    browser.save_screenshot(str(artifacts_dir / "web-widget-xss-as-text.png"))


MARKDOWN_QUESTION = "How do I export my invoices?"
MARKDOWN_FAQ = """
  - id: export
    question: How do I export my invoices?
    alternates: [export invoices, download every invoice, invoice export file]
    answer: |
      Go to **Settings → Export** and pick a *format*:

      - **CSV** for spreadsheets
      - PDF for your accountant
      - `JSON` for developers

      Read [the export guide](https://help.example.com/export) first.
      Never [click here](javascript:window.__xss=3) or paste <img src=x onerror="window.__xss=4"> anywhere.
"""


@pytest.fixture(scope="module")
def markdown_bot(trained_tiny, encoder, tmp_path_factory):
    """The tiny bot with one more FAQ whose answer has bold, italic, code, a list, a link, a `javascript:`
    link and an HTML tag (only the knowledge is retrained)."""
    from smallbot.runtime.bot import Bot
    from smallbot.build.pipeline import train_project
    from smallbot.project.loader import load_project

    root = tmp_path_factory.mktemp("markdown") / "tiny"
    shutil.copytree(trained_tiny, root)
    with open(root / "knowledge" / "faq.yml", "a", encoding="utf-8") as faq:
        faq.write(MARKDOWN_FAQ.lstrip("\n"))
    train_project(load_project(root), encoder=encoder)
    bot = Bot.from_build(load_project(root), encoder=encoder, with_store=False)
    yield bot
    bot.close()


def test_markdown_in_an_answer_renders_as_elements_and_html_and_unsafe_links_stay_text(
        browser, markdown_bot, start_server, artifacts_dir):
    server = start_server(markdown_bot, WebSettings.from_config(markdown_bot.config, port=0))
    browser.get(server.url + "/")
    widget = Widget(browser)
    widget.open()
    widget.ask(MARKDOWN_QUESTION)

    def check(reply) -> None:
        body = reply.find_element(By.CSS_SELECTOR, ".text")

        def texts(selector: str) -> list[str]:
            return [e.get_attribute("textContent") for e in body.find_elements(By.CSS_SELECTOR, selector)]

        assert texts("strong") == ["Settings → Export", "CSV"]
        assert texts("em") == ["format"]
        assert texts("ul > li") == ["CSV for spreadsheets", "PDF for your accountant", "JSON for developers"]
        assert texts("li code") == ["JSON"]
        [link] = body.find_elements(By.CSS_SELECTOR, "a")  # the javascript: one is not a link
        assert (link.get_attribute("href"), link.get_attribute("target"), link.get_attribute("rel")) == (
            "https://help.example.com/export", "_blank", "noopener noreferrer")
        assert link.get_attribute("textContent") == "the export guide"
        shown = body.get_attribute("textContent")
        assert "Never click here or paste <img src=x onerror=\"window.__xss=4\"> anywhere." in shown
        assert "**" not in shown and "](" not in shown
        assert not widget.find_all("img") and not widget.find_all("a[href^='javascript']")
        assert browser.execute_script("return window.__xss === undefined")

    check(widget.bot_replies()[-1])
    browser.save_screenshot(str(artifacts_dir / "web-widget-markdown.png"))
    browser.refresh()  # the same from the stored history
    widget = Widget(browser)
    widget.wait(lambda: widget.bot_replies(), "the history to render")
    check(widget.bot_replies()[-1])


def test_related_questions_show_the_label_of_bot_yml_sent_by_the_server(browser, tiny_bot, start_server):
    """The widget has no English of its own for "Related": it shows the label the reply carries."""
    import dataclasses

    from smallbot.project.config import MessagesConfig

    tiny_bot.config = dataclasses.replace(tiny_bot.config, messages=MessagesConfig(related="Siehe auch:"))
    tiny_bot.policy = type(tiny_bot.policy)(**{**tiny_bot.policy.__dict__, "faq_answer": 0.0, "faq_suggest": 0.0})
    server = start_server(tiny_bot, WebSettings.from_config(tiny_bot.config, port=0))
    browser.get(server.url + "/")
    widget = Widget(browser)
    widget.open()
    widget.ask("forgot the password to my account")
    widget.wait(lambda: widget.find_all(".suggestion"), "the Related questions")
    assert [e.get_attribute("textContent") for e in widget.find_all(".related")] == ["Siehe auch:"]


def test_widget_reconnects_after_a_server_restart(browser, live_server, helpdesk_bot):
    browser.get(live_server.url + "/")
    widget = Widget(browser)
    widget.open()
    live_server.stop()
    widget.wait(lambda: widget.host.get_attribute("data-connection") != "open", "the widget to see the server go")
    assert "Reconnecting" in widget.find(".status").get_attribute("textContent")
    live_server.start()  # same port
    widget.wait(lambda: widget.host.get_attribute("data-connection") == "open", "the widget to reconnect")
    widget.ask(FAQ_QUESTION)
    assert rendered_words(widget.bot_replies()[-1]) == words(faq_answer(helpdesk_bot, FAQ_QUESTION))


def test_keyboard_opens_and_escape_closes_with_focus_back_on_the_launcher(browser, live_server):
    browser.get(live_server.url + "/")
    widget = Widget(browser)
    launcher = widget.find(".launcher")
    browser.execute_script("arguments[0].focus()", launcher)
    launcher.send_keys(Keys.ENTER)
    widget.wait(lambda: widget.host.get_attribute("data-open") == "true", "Enter to open the chat")
    focused = "return document.activeElement.shadowRoot && document.activeElement.shadowRoot.activeElement.id"
    assert browser.execute_script(focused) == "smallbot-input"
    widget.find("#smallbot-input").send_keys(Keys.ESCAPE)
    widget.wait(lambda: widget.host.get_attribute("data-open") == "false", "Escape to close the chat")
    assert browser.execute_script(
        "return document.activeElement.shadowRoot.activeElement.classList.contains('launcher')")
    assert launcher.get_attribute("aria-expanded") == "false"


class HostSite:
    """Somebody else's site on another loopback port (another origin) embedding the widget."""

    def __init__(self):
        self.bot_url = ""  # set once the bot server, which must know this site's origin, is up
        self.port = 0
        self._loop = asyncio.new_event_loop()

    def start(self) -> "HostSite":
        async def page(request: web.Request) -> web.Response:
            return web.Response(content_type="text/html", text=(
                "<!doctype html><title>Shop</title><h1>Some shop</h1>"
                f'<script src="{self.bot_url}/widget.js" data-title="Shop help" data-accent="#b91c1c" '
                'data-position="left" async></script>'))

        async def serve() -> None:
            app = web.Application()
            app.router.add_get("/", page)
            self._runner = web.AppRunner(app)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", 0).start()
            self.port = self._runner.addresses[0][1]

        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(serve())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(30)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()


@pytest.mark.parametrize("allowed", [True, False], ids=["listed-origin", "unlisted-origin"])
def test_widget_embedded_in_another_origin_works_only_when_listed(browser, helpdesk_bot, start_server,
                                                                  artifacts_dir, allowed):
    site = HostSite().start()
    try:
        origins = [f"http://127.0.0.1:{site.port}"] if allowed else ["https://someone-else.example"]
        server = start_server(helpdesk_bot, WebSettings.from_config(helpdesk_bot.config, port=0,
                                                                    allowed_origins=origins))
        site.bot_url = server.url
        browser.get(f"http://127.0.0.1:{site.port}/")
        widget = Widget(browser)
        assert widget.host.get_attribute("data-position") == "left"
        if allowed:
            widget.open()
            widget.ask(FAQ_QUESTION)
            assert rendered_words(widget.bot_replies()[-1]) == words(faq_answer(helpdesk_bot, FAQ_QUESTION))
            browser.save_screenshot(str(artifacts_dir / "web-widget-embedded-elsewhere.png"))
        else:
            widget.find(".launcher").click()
            widget.wait(lambda: widget.host.get_attribute("data-connection") == "closed", "the refused socket")
            widget.find("#smallbot-input").send_keys("hello", Keys.ENTER)
            widget.wait(lambda: widget.find_all(".msg.bot.error"), "the refused message to show an error")
    finally:
        site.stop()
