"""``stenod uninstall``: what ``stenod install`` wrote and the caches, removed; a stand-in ``systemctl`` logs its
calls."""

from __future__ import annotations

import io
import sqlite3
import sys
from pathlib import Path

import pytest

from stenod.cli import main
from stenod.systemd import install_user
from stenod.uninstall import uninstall
from stenod_clients.ime.install import install as install_ime

UNITS = ("stenod.service", "stenod-type.service", "stenod-captions.service")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME and the XDG folders in ``tmp_path``; a PATH holding only a ``systemctl`` that logs its arguments."""
    for name, folder in (("HOME", "home"), ("XDG_CONFIG_HOME", "config"), ("XDG_CACHE_HOME", "cache"),
                         ("XDG_DATA_HOME", "data"), ("XDG_STATE_HOME", "state")):
        (tmp_path / folder).mkdir()
        monkeypatch.setenv(name, str(tmp_path / folder))
    for name in ("STENOD_CACHE_DIR", "STENOD_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    _fake_systemctl(tmp_path / "bin", "exit 0")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    return tmp_path


def _fake_systemctl(folder: Path, then: str) -> None:
    folder.mkdir(exist_ok=True)
    tool = folder / "systemctl"
    tool.write_text(f'#!/bin/sh\necho "$*" >> "{folder / "systemctl.log"}"\n{then}\n')
    tool.chmod(0o755)


def _calls(home: Path) -> list[str]:
    log = home / "bin" / "systemctl.log"
    return log.read_text().splitlines() if log.exists() else []


def _installed(home: Path) -> dict[str, Path]:
    """Everything stenod writes: units (enabled), the IME component, a model cache, a configuration, a history."""
    install_user(enable=True, clients=("type", "captions"))
    install_ime(str(Path(sys.executable).with_name("stenod")), refresh=False)
    cache = home / "cache" / "stenod"
    (cache / "models" / "tiny.en-0123").mkdir(parents=True)
    (cache / "models" / "tiny.en-0123" / "encoder.onnx").write_bytes(b"\0" * 1000)
    (cache / "fingerprints.json").write_text("{}")
    config = home / "config" / "stenod" / "config.toml"
    config.parent.mkdir()
    config.write_text("[audio]\n")
    history = home / "state" / "stenod" / "history.sqlite3"
    history.parent.mkdir()
    sqlite3.connect(history).close()
    return {"units": home / "config" / "systemd" / "user", "component": home / "data" / "ibus" / "component"
            / "stenod.xml", "environment": home / "config" / "environment.d" / "60-stenod-ibus.conf",
            "cache": cache, "config": config.parent, "history": history}


def _uninstall(**flags: bool) -> tuple[int, str]:
    out = io.StringIO()
    status = uninstall(out=out, **flags)
    return status, out.getvalue()


def test_a_dry_run_names_everything_and_removes_nothing(home: Path) -> None:
    paths = _installed(home)
    before = _calls(home)
    status, said = _uninstall(dry_run=True, config=True, history=True)
    assert status == 0
    assert f"would run systemctl --user disable --now {' '.join(UNITS)}" in said
    for unit in UNITS:
        assert f"would remove {paths['units'] / unit} (systemd user unit)" in said
        assert (paths["units"] / unit).exists()
    for name in ("component", "environment", "config", "history"):
        assert f"would remove {paths[name]}" in said and paths[name].exists()
    assert f"would remove {paths['cache'] / 'models'}/ (model cache)" in said and paths["cache"].is_dir()
    assert said.rstrip().endswith("nothing was removed (--dry-run)")
    assert _calls(home) == before  # systemctl was not run


def test_uninstall_stops_and_removes_what_install_wrote_and_keeps_the_configuration(home: Path) -> None:
    paths = _installed(home)
    assert _calls(home) == ["--user daemon-reload", f"--user enable --now {' '.join(UNITS)}"]
    status, said = _uninstall()
    assert status == 0, said
    assert _calls(home)[2:] == [f"--user disable --now {' '.join(UNITS)}", "--user daemon-reload"]
    for unit in UNITS:
        assert f"removed {paths['units'] / unit} (systemd user unit)" in said
        assert not (paths["units"] / unit).exists()
    assert f"removed {paths['component']} (IBus component)" in said and not paths["component"].exists()
    assert not paths["environment"].exists()
    assert "IBus is not installed" in said  # no ibus on this PATH: nothing to rewrite
    assert f"removed {paths['cache'] / 'models'}/ (model cache)" in said and not paths["cache"].exists()
    assert f"kept the configuration {paths['config']} (--config removes it)" in said and paths["config"].is_dir()
    assert f"kept the dictation history {paths['history']} (--history removes it)" in said
    assert paths["history"].exists()

    status, said = _uninstall(config=True, history=True)  # again: what is gone is said to be gone
    assert status == 0
    assert f"no stenod units in {paths['units']}: nothing to stop" in said
    assert f"no IBus component at {paths['component']}" in said
    assert f"no model cache at {paths['cache']}" in said
    assert f"removed {paths['config']}/ (configuration)" in said and not paths["config"].exists()
    assert f"removed {paths['history']} (dictation history)" in said and not paths["history"].exists()
    assert len(_calls(home)) == 4  # no unit left: systemctl was not run again


def test_a_failing_systemctl_is_reported_and_the_files_go_anyway(home: Path) -> None:
    paths = _installed(home)
    _fake_systemctl(home / "bin", 'echo "Failed to connect to bus: No medium found" >&2; exit 1')
    wants = paths["units"] / "graphical-session.target.wants"
    wants.mkdir()
    (wants / "stenod.service").symlink_to(paths["units"] / "stenod.service")
    status, said = _uninstall()
    assert status == 0, said
    assert (f"systemctl --user disable --now {' '.join(UNITS)} failed: Failed to connect to bus: No medium found"
            in said)
    assert "systemctl --user stop stenod" in said
    assert f"removed {wants / 'stenod.service'} (link enabling it)" in said
    assert not (wants / "stenod.service").is_symlink()
    assert not any((paths["units"] / unit).exists() for unit in UNITS)
    assert "daemon-reload" not in _calls(home)[-1]


def test_without_systemctl_the_files_still_go(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = _installed(home)
    monkeypatch.setenv("PATH", str(home / "nowhere"))
    status, said = _uninstall()
    assert status == 0
    assert f"systemctl not found: systemctl --user disable --now {' '.join(UNITS)} not run" in said
    assert not any((paths["units"] / unit).exists() for unit in UNITS)


def test_a_cache_folder_of_the_user_s_choosing_keeps_what_is_not_stenod_s(home: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    shared = home / "shared-cache"
    (shared / "hub" / "models--Owner--name").mkdir(parents=True)  # Hugging Face's own cache: not stenod's
    (shared / "hub" / "Owner--pulled").mkdir()  # what `stenod models pull Owner/pulled` fills
    (shared / "hub" / "Owner--pulled" / "model.bin").write_bytes(b"x")
    (shared / "models" / "tiny.en-abc-c3").mkdir(parents=True)
    (shared / "models" / "tiny.en-abc-c3" / "manifest.json").write_text("{}")
    (shared / "models" / "someone-else").mkdir()
    (shared / "tuning.json").write_text("{}")
    (shared / "photos").mkdir()
    monkeypatch.setenv("STENOD_CACHE_DIR", str(shared))
    status, said = _uninstall()
    assert status == 0
    assert f"removed {shared / 'hub' / 'Owner--pulled'}/ (model cache)" in said
    assert f"removed {shared / 'models' / 'tiny.en-abc-c3'}/ (model cache)" in said
    assert f"removed {shared / 'tuning.json'}" in said
    assert (shared / "hub" / "models--Owner--name").is_dir() and (shared / "models" / "someone-else").is_dir()
    assert f"kept {shared}: it holds other files (hub, models, photos)" in said and (shared / "photos").is_dir()


def test_a_config_variable_naming_a_folder_never_removes_it(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = home / "dotfiles"
    folder.mkdir()
    monkeypatch.setenv("STENOD_CONFIG", str(folder))
    status, said = _uninstall(config=True)
    assert status == 0 and folder.is_dir() and "names a folder" in said


def test_the_command_line_takes_user_and_dry_run(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = _installed(home)
    assert main(["uninstall", "--user", "--dry-run", "--history"]) == 0
    said = capsys.readouterr().out
    assert f"would remove {paths['units'] / 'stenod.service'}" in said
    assert f"would remove {paths['history']}" in said and paths["history"].exists()


def test_the_desktop_s_typing_permission_goes_too(home: Path) -> None:
    token = home / "state" / "stenod" / "portal-restore-token"
    token.parent.mkdir(parents=True)
    token.write_text("restore")
    status, said = _uninstall()
    assert status == 0 and not token.exists() and "typing permission" in said
