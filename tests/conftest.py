import pytest

from .baking import load_hook


@pytest.fixture(scope="session")
def pre_gen():
    return load_hook("pre_gen_project")


@pytest.fixture(scope="session")
def post_gen():
    return load_hook("post_gen_project")
