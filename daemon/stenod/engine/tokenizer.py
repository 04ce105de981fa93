"""Whisper's tokenizer: text ↔ ids, special tokens, timestamp tokens and word splitting."""

from __future__ import annotations

import string
from functools import cached_property
from pathlib import Path

from tokenizers import Tokenizer as HFTokenizer

from stenod.errors import ModelError

# Languages written without spaces between words: split words on Unicode boundaries only.
_UNSPACED = {"zh", "ja", "th", "lo", "my", "yue"}
TIME_PRECISION = 0.02


class WhisperTokenizer:
    """Wraps ``tokenizer.json`` and the special-token layout of a Whisper vocabulary."""

    def __init__(self, tokenizer_json: Path, n_vocab: int, vocabulary_txt: Path | None = None) -> None:
        try:
            self.hf = HFTokenizer.from_file(str(tokenizer_json))
        except Exception as exc:
            raise ModelError(f"{tokenizer_json}: not a readable tokenizer ({str(exc)[:120]})") from None
        self.n_vocab = n_vocab
        self._vocab: list[str] | None = None
        if vocabulary_txt is not None and vocabulary_txt.is_file():
            self._vocab = vocabulary_txt.read_text(encoding="utf-8").splitlines()
        self.eot = self._special("<|endoftext|>")
        self.sot = self._special("<|startoftranscript|>")
        self.translate = self._special("<|translate|>")
        self.transcribe = self._special("<|transcribe|>")
        self.sot_lm = self._special("<|startoflm|>")
        self.sot_prev = self._special("<|startofprev|>")
        self.no_timestamps = self._special("<|notimestamps|>")
        self.no_speech = self._special("<|nospeech|>", "<|nocaptions|>")
        self.timestamp_begin = self.no_timestamps + 1
        self.multilingual = n_vocab >= 51865

    def _special(self, *names: str) -> int:
        for name in names:
            token_id = self.hf.token_to_id(name)
            if token_id is None and self._vocab is not None and name in self._vocab:
                token_id = self._vocab.index(name)
            if token_id is not None:
                return token_id
        raise ModelError(f"tokenizer lacks the special token {names[0]}")

    @cached_property
    def languages(self) -> dict[str, int]:
        """Language code → token id, read from the tokens between sot and translate."""
        found: dict[str, int] = {}
        for token_id in range(self.sot + 1, self.translate):
            token = self.hf.id_to_token(token_id)
            if token and token.startswith("<|") and token.endswith("|>"):
                found[token[2:-2]] = token_id
        return found

    def sot_sequence(self, language: str | None = None, task: str = "transcribe") -> list[int]:
        if not self.multilingual:
            return [self.sot]
        code = language or "en"
        if code not in self.languages:
            raise ModelError(f"unknown language {code!r} (known: {', '.join(sorted(self.languages))})")
        return [self.sot, self.languages[code], self.translate if task == "translate" else self.transcribe]

    def encode(self, text: str) -> list[int]:
        return self.hf.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        return self.hf.decode([t for t in ids if t < self.eot])

    def decode_with_timestamps(self, ids: list[int]) -> str:
        parts: list[str] = []
        text: list[int] = []
        for t in ids:
            if t >= self.timestamp_begin:
                parts.append(self.hf.decode(text))
                text = []
                parts.append(f"<|{(t - self.timestamp_begin) * TIME_PRECISION:.2f}|>")
            elif t < self.eot:
                text.append(t)
        parts.append(self.hf.decode(text))
        return "".join(parts)

    @cached_property
    def non_speech_tokens(self) -> list[int]:
        """Tokens of symbols and punctuation-only strings that are never spoken (Whisper's list)."""
        symbols = list('"#()*+/:;<=>@[\\]^_`{|}~「」『』')
        symbols += ["<<", ">>", "<<<", ">>>", "--", "---", "-(", "-[", "('", '("', "((", "))", "(((", ")))",
                    "[[", "]]", "{{", "}}", "♪♪", "♪♪♪"]
        miscellaneous = set("♩♪♫♬♭♮♯")
        result = {self.encode(" -")[0], self.encode(" '")[0]}
        for symbol in symbols + list(miscellaneous):
            for tokens in (self.encode(symbol), self.encode(" " + symbol)):
                if len(tokens) == 1 or symbol in miscellaneous:
                    result.add(tokens[0])
        return sorted(result)

    def suppressed(self, suppress_tokens: list[int] | tuple[int, ...]) -> list[int]:
        """Resolve faster-whisper's ``suppress_tokens`` (``-1`` = the non-speech set) to ids."""
        ids = {t for t in suppress_tokens if t >= 0}
        if -1 in suppress_tokens:
            ids.update(self.non_speech_tokens)
        ids.update({self.transcribe, self.translate, self.sot, self.sot_prev, self.sot_lm, self.no_speech})
        return sorted(ids)

    def split_to_word_tokens(self, ids: list[int], language: str | None = None) -> tuple[list[str], list[list[int]]]:
        if language in _UNSPACED:
            return self._split_on_unicode(ids)
        return self._split_on_spaces(ids)

    def _split_on_unicode(self, ids: list[int]) -> tuple[list[str], list[list[int]]]:
        full = self.decode_with_timestamps(ids)
        replacement = "\ufffd"
        words: list[str] = []
        groups: list[list[int]] = []
        current: list[int] = []
        start = 0
        for token in ids:
            current.append(token)
            piece = self.decode_with_timestamps(current)
            if replacement not in piece or full[start + piece.index(replacement)] == replacement:
                words.append(piece)
                groups.append(current)
                current = []
                start += len(piece)
        return words, groups

    def _split_on_spaces(self, ids: list[int]) -> tuple[list[str], list[list[int]]]:
        subwords, groups = self._split_on_unicode(ids)
        words: list[str] = []
        word_groups: list[list[int]] = []
        for subword, tokens in zip(subwords, groups):
            starts_word = (tokens[0] >= self.eot or subword.startswith(" ")
                           or subword.strip() in string.punctuation or not words)
            if starts_word:
                words.append(subword)
                word_groups.append(list(tokens))
            else:
                words[-1] += subword
                word_groups[-1].extend(tokens)
        return words, word_groups
