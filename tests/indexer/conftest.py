from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.indexer.site import LocalSite, serve


@pytest.fixture
def site() -> Iterator[LocalSite]:
    """A real web site on a free port of 127.0.0.1 (see tests/indexer/site.py)."""
    server = serve()
    yield server
    server.shutdown()
    server.server_close()
