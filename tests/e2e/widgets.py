"""Choosing in Streamlit's select boxes the way a person does: open, pick, look, and again if the
pick did not take.

A page whose script is still streaming its elements can redraw a select box just after it was
opened; the open list closes and the option never shows. A person opens it again; so do these.
"""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

ATTEMPT_MS = 10_000


def choose(page: Page, label: str, option: str, attempts: int = 4) -> None:
    """Choose `option` (its whole text) in the select box labelled `label`, until the box shows it."""
    box = page.get_by_role("combobox", name=label)
    for _ in range(attempts):
        try:
            box.click()
            page.get_by_role("option", name=option, exact=True).click(timeout=ATTEMPT_MS)
            # The box shows its choice as the value of its input.
            expect(box).to_have_value(option, timeout=ATTEMPT_MS)
            return
        except (AssertionError, PlaywrightTimeoutError):
            page.keyboard.press("Escape")
    expect(box).to_have_value(option)


def choose_many(page: Page, label: str, options: list[str], attempts: int = 4) -> None:
    """Add each of `options` to the multiselect labelled `label`, until each shows as a chosen tag."""
    box = page.get_by_role("combobox", name=label)
    for option in options:
        tag = _widget(page, label).get_by_text(option, exact=True)
        for _ in range(attempts):
            try:
                box.click()
                page.get_by_role("option", name=option, exact=True).click(timeout=ATTEMPT_MS)
                expect(tag).to_be_visible(timeout=ATTEMPT_MS)
                break
            except (AssertionError, PlaywrightTimeoutError):
                page.keyboard.press("Escape")
        expect(tag).to_be_visible()
    page.keyboard.press("Escape")


def _widget(page: Page, label: str) -> Locator:
    """The whole select widget (label, box and chosen values) whose label is `label`."""
    return page.locator("[data-testid=stSelectbox], [data-testid=stMultiSelect]").filter(
        has=page.get_by_role("combobox", name=label)
    )
