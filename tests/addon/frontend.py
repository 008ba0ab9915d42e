"""Home Assistant's frontend, served by the test's own Home Assistant, in headless chromium.

The frontend's config flow dialog is driven the way a user drives it: real mouse clicks on
what the page shows and typed text (DevTools Input events), found by their visible text
through every shadow root. Only loopback is reached: the server is aiohttp's test server
on 127.0.0.1 and chromium resolves no names (tests/e2e/browser.py).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from homeassistant.auth.providers.homeassistant import HassAuthProvider
from homeassistant.components.onboarding import STORAGE_KEY, STORAGE_VERSION
from homeassistant.components.onboarding.const import STEPS
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from devtools.ha_api import Login
from tests.e2e.browser import Browser

OWNER = Login("owner", "a password only this test uses")

# Every element, shadow roots included, in document order: of the config flow dialog when
# it is open (the page behind it has inputs and buttons too), else of the page.
_ALL_JS = """
const below = (root) => {
  const found = [];
  const walk = (node) => {
    for (const el of node.querySelectorAll("*")) {
      found.push(el);
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(root);
  return found;
};
const dialog = below(document).find((el) => el.tagName === "DIALOG-DATA-ENTRY-FLOW");
const all = dialog ? below(dialog.shadowRoot || dialog) : below(document);
"""
# The innermost visible element whose text is exactly ``label``, scrolled into view
# (``block`` as for scrollIntoView), and its centre.
_FIND_TEXT_JS = (
    "(() => {"
    + _ALL_JS
    + """
  const [label, block] = %s;
  const hits = all.filter((el) => el.textContent.trim() === label
    && el.getBoundingClientRect().width > 0);
  if (!hits.length) return null;
  const el = hits[hits.length - 1];
  el.scrollIntoView({block});
  const r = el.getBoundingClientRect();
  return [r.x + r.width / 2, r.y + r.height / 2];
})()"""
)
# Focus the n-th visible <input> of a type, its text selected so typing replaces it.
_FOCUS_INPUT_JS = (
    "(() => {"
    + _ALL_JS
    + """
  const [type, index] = %s;
  const inputs = all.filter((el) => el.tagName === "INPUT" && el.type === type
    && el.getBoundingClientRect().width > 0);
  const el = inputs[index];
  if (!el) return false;
  el.focus();
  el.select();
  return true;
})()"""
)


def mark_onboarded(hass_storage: dict[str, Any]) -> None:
    """Onboarding done: the frontend would redirect to it otherwise."""
    hass_storage[STORAGE_KEY] = {
        "version": STORAGE_VERSION,
        "minor_version": 1,
        "key": STORAGE_KEY,
        "data": {"done": list(STEPS)},
    }


async def async_setup_frontend(hass: HomeAssistant, local_auth: HassAuthProvider) -> None:
    """The frontend (with http, auth, config, ...) and a login for the owner."""
    assert local_auth.data is not None  # the fixture initialised it
    await hass.async_add_executor_job(local_auth.data.add_auth, OWNER.username, OWNER.password)
    assert await async_setup_component(hass, "frontend", {})
    await hass.async_block_till_done()


async def evaluate(browser: Browser, expression: str) -> Any:
    result = await browser.send("Runtime.evaluate", expression=expression, returnByValue=True)
    return result.get("result", {}).get("value")


async def scroll_to_text(browser: Browser, label: str, block: str = "center") -> list[float]:
    """Scroll what shows ``label`` into view; the point at its centre."""
    point = await evaluate(browser, _FIND_TEXT_JS % json.dumps([label, block]))
    assert point is not None, f"nothing on the page shows {label!r}"
    return list(point)


async def click_text(browser: Browser, label: str) -> None:
    """A mouse click on what shows ``label`` (a menu entry, a button, an option).

    The click waits until the target stops moving: a dialog that is still opening (its
    animation is slower on a busy machine) would take the click on its backdrop, and
    close.
    """
    point = await scroll_to_text(browser, label)
    for _ in range(25):
        await asyncio.sleep(0.2)
        settled = await scroll_to_text(browser, label)
        if settled == point:
            break
        point = settled
    x, y = point
    for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
        await browser.send(
            "Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1
        )


async def type_into(browser: Browser, input_type: str, index: int, text: str) -> None:
    """Type ``text`` into the ``index``-th visible input of ``input_type``."""
    focused = await evaluate(browser, _FOCUS_INPUT_JS % json.dumps([input_type, index]))
    assert focused, f"no {input_type} input number {index} on the page"
    await browser.send("Input.insertText", text=text)
