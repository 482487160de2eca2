import pytest
import respx


@pytest.fixture
def api(request):
    """The vendor's API at the test module's BASE_URL, answering from routes a test sets: a
    request no route matches fails the test, so does a route no request used."""
    with respx.mock(base_url=request.module.BASE_URL) as mock:
        yield mock
