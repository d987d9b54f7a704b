"""Page arithmetic shared by the list selectors (tenants, content)."""


def last_page(total: int, page_size: int) -> int:
    return max(1, -(-total // page_size))


def clamp_page(page: int, total: int, page_size: int) -> int:
    """``page`` moved into 1..last page (a stale link past the end shows the last page)."""
    return max(1, min(page, last_page(total, page_size)))


class PageInfo:
    """Navigation properties for a dataclass with ``total``, ``page`` and ``page_size``."""

    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return last_page(self.total, self.page_size)

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1
