"""Shared fixtures: the real WikiText-2 splits (CI points WIKITEXT_DIR at a verified copy)."""

import pytest

from helpers import data


@pytest.fixture(scope="session")
def test_text():
    return data.load_split("test")


@pytest.fixture(scope="session")
def valid_text():
    return data.load_split("valid")
