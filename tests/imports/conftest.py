import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def english():
    """Messages are compared with their English msgids (the Chinese comes from the catalogue)."""
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def media(tmp_path, settings):
    """Uploads and reports go to a throw-away MEDIA_ROOT."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
