"""The embedded broker's layout: kombu's filesystem transport in one folder, which settings and the tests that
start a broker of their own both use."""

from pathlib import Path


def filesystem_broker_options(folder: Path) -> dict:
    """kombu's transport options for a filesystem broker in ``folder``, whose subfolders are made here."""
    for name in ("queue", "processed", "control"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
