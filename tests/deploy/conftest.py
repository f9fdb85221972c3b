"""Fixtures of tests/deploy: each overlay rendered once per session, every test marked `deploy`."""

from pathlib import Path

import pytest
from deploy_helpers import OVERLAYS, Manifest, render


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "deploy: fast checks of images, model repository variants and k8s manifests"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.deploy)


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Manifest]]:
    """overlay -> its rendered objects."""
    return {overlay: render(overlay) for overlay in OVERLAYS}
