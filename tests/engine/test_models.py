"""Models pulled with ``stenod models pull``: saved where ``--model OWNER/REPO`` finds them, odd names refused.

Nothing here reaches the network: a pulled model is laid out as ``pull`` lays it out, from the tiny.en package.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from stenod.cli import main
from stenod.engine.models import hub_directory, hub_folder, is_hub_repo, pull, pulled_models, resolve
from stenod.errors import ModelError

REPO = "Owner/faster-whisper-tiny.en"
FOLDER = "Owner--faster-whisper-tiny.en"
PULLED_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")
ODD_NAMES = ("../x", "..", "/etc", "/tmp/x", "~/x", "a/../b", "a/b/c", "/a/b", "a/", "/b", "a--b/c", "a/b--c",
             "-a/b", "a/b.", ".a/b", "a/b.git", "x\ny/z", "a b/c", "a/b\\c", "foo", "tiny", "")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty private cache, and a current directory where no relative model path exists."""
    path = tmp_path / "cache"
    monkeypatch.setenv("STENOD_CACHE_DIR", str(path))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return path


def _lay_out(target: Path, source: Path, names: tuple[str, ...] = PULLED_FILES) -> Path:
    """A pulled repository's folder: its CTranslate2 files (here links to the tiny.en package's)."""
    target.mkdir(parents=True)
    for name in names:
        (target / name).symlink_to(source / name)
    return target


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path) -> list[tuple[str, Path]]:
    """``huggingface_hub.snapshot_download`` replaced by a copy of tiny.en's files; the calls it received."""
    calls: list[tuple[str, Path]] = []

    def snapshot_download(repo_id: str, *, local_dir: str, allow_patterns: list[str]) -> str:
        calls.append((repo_id, Path(local_dir)))
        _lay_out(Path(local_dir), tiny_model_dir, tuple(n for n in PULLED_FILES if n != "vocabulary.txt"))
        return local_dir

    module = types.ModuleType("huggingface_hub")
    module.snapshot_download = snapshot_download  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "huggingface_hub", module)
    return calls


def test_a_pulled_repository_is_found_by_its_name(cache: Path, tiny_model_dir: Path) -> None:
    folder = _lay_out(cache / "hub" / FOLDER, tiny_model_dir)
    files = resolve(REPO)
    assert files.name == REPO
    assert files.weights == (folder / "model.bin",)
    assert (files.config, files.tokenizer, files.vocabulary) == (
        folder / "config.json", folder / "tokenizer.json", folder / "vocabulary.txt")
    assert hub_directory(REPO) == folder and hub_folder(REPO) == FOLDER


def test_pull_saves_where_the_name_finds_it(cache: Path, fake_hub: list[tuple[str, Path]]) -> None:
    target = pull(REPO)
    assert target == cache / "hub" / FOLDER
    assert resolve(REPO).weights == (target / "model.bin",)
    catalogue = pull("tiny.en")
    assert catalogue == cache / "hub" / "tiny.en" == hub_directory("tiny.en")
    assert fake_hub == [(REPO, target), ("Systran/faster-whisper-tiny.en", catalogue)]


def test_a_repository_without_weights_is_refused_and_removed(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def snapshot_download(repo_id: str, *, local_dir: str, allow_patterns: list[str]) -> str:
        Path(local_dir).mkdir(parents=True)
        (Path(local_dir) / "config.json").write_text("{}")
        return local_dir

    module = types.ModuleType("huggingface_hub")
    module.snapshot_download = snapshot_download  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "huggingface_hub", module)
    with pytest.raises(ModelError, match=r"no model\.bin") as caught:
        pull("openai/whisper-tiny")
    assert "\n" not in str(caught.value)
    assert not (cache / "hub" / "openai--whisper-tiny").exists()


def test_models_list_shows_the_name_to_pass(cache: Path, tiny_model_dir: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    folder = _lay_out(cache / "hub" / FOLDER, tiny_model_dir)
    partial = _lay_out(cache / "hub" / "Other--partial", tiny_model_dir, ("config.json",))
    for stray in ("not--a--repo", ".tmp", "a..b"):
        (cache / "hub" / stray).mkdir()
    assert pulled_models() == [("Other/partial", partial), (REPO, folder)]
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    pulled = lines[lines.index("Pulled (--model NAME):") + 1:lines.index("Converted (cache):")]
    assert pulled[0].startswith(f"  Other/partial {partial}  incomplete (no model.bin)")
    assert pulled[1].split() == [REPO, str(folder)]
    assert len(pulled) == 2


def test_models_list_without_pulled_models(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list"]) == 0
    assert "Pulled (--model NAME):\n  (none: `stenod models pull OWNER/REPO`" in capsys.readouterr().out


def test_a_repository_never_pulled_says_how_to_pull_it(cache: Path, tiny_model_dir: Path) -> None:
    _lay_out(cache / "hub" / "Owner--partial", tiny_model_dir, ("config.json",))
    for name in ("Owner/missing", "Owner/partial"):
        with pytest.raises(ModelError) as caught:
            resolve(name)
        message = str(caught.value)
        assert f"run `stenod models pull {name}`" in message and "\n" not in message


@pytest.mark.parametrize("name", ODD_NAMES)
def test_pull_refuses_odd_names_in_one_line(cache: Path, fake_hub: list[tuple[str, Path]], name: str) -> None:
    with pytest.raises(ModelError, match="cannot pull") as caught:
        pull(name)
    assert "\n" not in str(caught.value)
    assert fake_hub == [] and not cache.exists()
    assert hub_directory(name) is None


@pytest.mark.parametrize("name", [n for n in ODD_NAMES if n])
def test_resolve_refuses_odd_names_in_one_line(cache: Path, tiny_model_dir: Path, name: str) -> None:
    for outside in (cache / "x", cache / "b", cache / "hub" / "b", cache / "hub" / "x"):
        _lay_out(outside, tiny_model_dir, ("model.bin",))
    with pytest.raises(ModelError) as caught:
        resolve(name)
    assert "\n" not in str(caught.value)


def test_hub_names_are_ones_the_hub_accepts() -> None:
    validators = pytest.importorskip("huggingface_hub.utils")
    assert all(is_hub_repo(n) for n in (REPO, "Systran/faster-whisper-base", "a_b/c.d-e", "1/2"))
    for name in ODD_NAMES:
        assert not is_hub_repo(name), name
    for name in (REPO, "a_b/c.d-e", "1/2"):
        validators.validate_repo_id(name)


def test_transcribe_with_a_pulled_repository(tmp_path: Path, tiny_model_dir: Path, jfk_wav: Path) -> None:
    cache = tmp_path / "cache"
    _lay_out(cache / "hub" / FOLDER, tiny_model_dir)
    env = {**os.environ, "STENOD_CACHE_DIR": str(cache)}

    def transcribe(model: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "stenod", "transcribe", "-q", "--model", model, str(jfk_wav)],
                              capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)

    done = transcribe(REPO)
    assert done.returncode == 0, done.stderr
    assert "ask not what your country can do for you" in done.stdout.lower()
    missing = transcribe("Owner/missing")
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.splitlines() == ["stenod: error: model 'Owner/missing' is not pulled (and no such "
                                           "directory): run `stenod models pull Owner/missing` where the machine "
                                           "is online"]
