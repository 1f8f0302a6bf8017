"""Paged listing (`kvbatch_bulk.listing`): every key with the prefix exactly once, whatever the paging."""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from hypothesis import given, settings
from hypothesis import strategies as st

from kvbatch_bulk.listing import Position, list_page


class Pages:
    """A store whose `list-keys` hands out fixed pages (in any order inside a page)."""

    def __init__(self, pages: List[List[str]]) -> None:
        self.pages = pages

    def list_keys(self, cursor: Optional[str]) -> Tuple[Sequence[str], Optional[str]]:
        index = int(cursor or 0)
        return self.pages[index], (str(index + 1) if index + 1 < len(self.pages) else None)


def drain(store: Pages, prefix: str, limit: int, max_store_pages: int) -> List[List[str]]:
    pages, position = [], Position()
    for _ in range(10_000):
        page = list_page(store, prefix, Position.parse(position.token()), limit, max_store_pages)
        pages.append(page.keys)
        if page.next is None:
            return pages
        position = page.next
    raise AssertionError("the listing never ended")


keys = st.text(alphabet="ab:é", min_size=0, max_size=4)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(keys, max_size=6), min_size=1, max_size=6), st.sampled_from(["", "a", "b:", "é"]),
       st.integers(1, 5), st.integers(1, 4))
def test_every_key_with_the_prefix_is_listed_once_and_pages_respect_the_limit(
        store_pages: List[List[str]], prefix: str, limit: int, max_store_pages: int) -> None:
    distinct_pages = [list(dict.fromkeys(page)) for page in store_pages]
    seen: set[str] = set()
    pages = [[k for k in page if not (k in seen or seen.add(k))] for page in distinct_pages]  # a key lives on one page
    pages = drain(Pages(pages), prefix, limit, max_store_pages)
    listed = [key for page in pages for key in page]
    assert sorted(listed) == sorted(k for k in seen if k.startswith(prefix))
    assert all(len(page) <= limit for page in pages)


@given(st.lists(keys, unique=True, max_size=30), st.integers(1, 7))
def test_a_single_store_page_like_spins_is_listed_in_sorted_order(all_keys: List[str], limit: int) -> None:
    listed = [key for page in drain(Pages([list(reversed(all_keys))]), "", limit, 64) for key in page]
    assert listed == sorted(all_keys)
