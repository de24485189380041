"""Saving and loading a `FlipTabularTokenizer`: the JSON feature vocabulary (``flip_feature_vocab.json``)
beside the text tokenizer's own files, never pickle; a broken, inconsistent or foreign file gets an
error that names it."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from transformers import AutoTokenizer, PreTrainedTokenizerBase
from transformers.utils import PushToHubMixin

FEATURE_VOCAB_FILE = "flip_feature_vocab.json"
FORMAT_VERSION = 1
"""Version of the ``flip_feature_vocab.json`` layout this package writes."""


class TokenizerFilesMixin(PushToHubMixin):
    """`save_pretrained` / `from_pretrained` of a tokenizer whose state is ``to_dict()`` (the
    constructor's arguments) plus a ``text_tokenizer``."""

    def save_pretrained(self, save_directory: str | os.PathLike, push_to_hub: bool = False, **kwargs: Any):
        """Write ``flip_feature_vocab.json`` and the text tokenizer's own files (no pickle)."""
        if os.path.isfile(save_directory):
            raise ValueError(f"{save_directory} is a file, not a directory.")
        os.makedirs(save_directory, exist_ok=True)
        if push_to_hub:
            repo_id = kwargs.pop("repo_id", str(save_directory).rstrip("/").split("/")[-1])
            repo_id = self._create_repo(repo_id, **kwargs)
            files_timestamps = self._get_files_timestamps(save_directory)
        with open(os.path.join(save_directory, FEATURE_VOCAB_FILE), "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh, ensure_ascii=False)
        files = list(self.text_tokenizer.save_pretrained(save_directory))
        files.append(os.path.join(save_directory, FEATURE_VOCAB_FILE))
        if push_to_hub:
            self._upload_modified_files(
                save_directory,
                repo_id,
                files_timestamps,
                commit_message=kwargs.get("commit_message"),
                token=kwargs.get("token"),
            )
        return tuple(files)

    @classmethod
    def from_pretrained(
        cls,
        pretrained_path: str | os.PathLike,
        field_names: Sequence[str] | None = None,
        text_tokenizer: PreTrainedTokenizerBase | str | None = None,
        unseen_id: str | None = None,
        **kwargs: Any,
    ) -> TokenizerFilesMixin:
        """Load from a folder written by `save_pretrained` (or a Hub repo id holding one).

        ``unseen_id``, if given, replaces the saved mapping of unseen values (a serving choice).

        ``field_names``, if given, must equal the saved field list: this guards against loading a
        tokenizer fitted on another table.
        """
        path = str(pretrained_path)
        if os.path.isdir(path):
            vocab_file = os.path.join(path, FEATURE_VOCAB_FILE)
            if not os.path.isfile(vocab_file):
                raise FileNotFoundError(f"{path} holds no {FEATURE_VOCAB_FILE}: not a FlipTabularTokenizer folder.")
        else:
            from huggingface_hub import hf_hub_download

            vocab_file = hf_hub_download(path, FEATURE_VOCAB_FILE, **kwargs)
            path = os.path.dirname(vocab_file)
        try:
            with open(vocab_file, encoding="utf-8") as fh:
                state = json.load(fh)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{vocab_file} is not a valid {FEATURE_VOCAB_FILE} (broken JSON: {err}).") from None
        if not isinstance(state, dict):
            raise ValueError(f"{vocab_file} is not a valid {FEATURE_VOCAB_FILE}: it holds no JSON object.")
        if state.get("format_version", 0) > FORMAT_VERSION:
            raise ValueError(f"{vocab_file} was written by a newer flip_hf (format {state['format_version']}).")
        absent = [k for k in ("field_names", "vocabularies", "counts", "unknown_counts") if k not in state]
        if absent:
            raise ValueError(f"{vocab_file} is not a valid {FEATURE_VOCAB_FILE}: it lacks {absent}.")
        if field_names is not None and list(field_names) != state["field_names"]:
            raise ValueError(
                f"Field mismatch: the tokenizer in {pretrained_path} was fitted on fields {state['field_names']}, "
                f"but fields {list(field_names)} were expected."
            )
        if text_tokenizer is None:
            try:
                text_tokenizer = AutoTokenizer.from_pretrained(path)
            except (OSError, ValueError, TypeError) as err:
                raise OSError(
                    f"{path} holds {FEATURE_VOCAB_FILE} but not a loadable text tokenizer (tokenizer.json, "
                    f"tokenizer_config.json, ...): {err}"
                ) from None
        try:
            tok = cls(
                state["field_names"],
                state["vocabularies"],
                state["counts"],
                state["unknown_counts"],
                text_tokenizer=text_tokenizer,
                max_length=state.get("max_length"),
                unseen_text=state.get("unseen_text", "unknown"),  # files from before the option: the old behaviour
                unseen_id=unseen_id or state.get("unseen_id", "unknown"),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{vocab_file} is not a valid {FEATURE_VOCAB_FILE}: {err}") from None
        if tok.feature_vocab_size != state.get("feature_vocab_size"):
            raise ValueError(
                f"{vocab_file} is inconsistent: feature_vocab_size is {state.get('feature_vocab_size')} but its "
                f"vocabularies make {tok.feature_vocab_size} feature ids."
            )
        tok.loaded_from = vocab_file
        return tok


__all__ = ["FEATURE_VOCAB_FILE", "FORMAT_VERSION", "TokenizerFilesMixin"]
