"""A small byte-level BPE tokenizer and a Qwen2-VL-style chat template, built offline.

Design decisions (the lead may want to revisit them when scaling up):

* Byte-level BPE, so any string (OCR output, odd punctuation, model garbage) encodes and decodes exactly.
* Pre-tokenisation uses Qwen2's split pattern, which puts every digit in its own piece (``\\p{N}`` matches one
  character). Builder version 1 stopped there, so ``"123"`` was ``1 2 3``: measured, a ~1M-parameter model never
  learned to localise that way (answer loss stuck on the plateau of a model that ignores positions). Version 2
  adds, after training, one token per integer 0..1000 (:func:`add_answer_tokens`; added tokens are matched
  longest-first before pre-tokenisation, so ``"123"`` is one token) and a few answer-structure fragments
  (``", "``, ``'{"bbox_2d": ['``, ...), which halve the length of a detection answer.
* Qwen2-VL's special tokens are added as *special* added tokens (never split, never merged). ``decode`` with
  ``skip_special_tokens=True`` would drop them, which is why :mod:`pr1bench.models.generate` strips only pad/eos.
* ``clean_up_tokenization_spaces=False`` so ``decode(encode(s)) == s`` for answers like ``[12, 34]`` and ``" ,"``.
* The chat template renders no default system prompt (fewer tokens for a tiny model; pass one explicitly), and
  wraps assistant content plus its ``<|im_end|>`` in ``{% generation %}`` so TRL's ``assistant_only_loss`` trains
  the model to stop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
"""Qwen2-VL's special tokens, in Qwen's own order; they get ids 0..13 (before the byte alphabet)."""

EOS_TOKEN = "<|im_end|>"
PAD_TOKEN = "<|endoftext|>"

# Qwen2's pre-tokenisation pattern: contractions, letter runs with one leading non-letter, single digits,
# punctuation runs, newlines and whitespace.
SPLIT_PATTERN = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

CHAT_TEMPLATE = (
    "{%- macro render_content(message) -%}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for content in message['content'] -%}"
    "{%- set kind = content.get('type') or ('image' if content.get('image') is not none or 'image_url' in content"
    " else ('video' if content.get('video') is not none else 'text')) -%}"
    "{%- if kind == 'image' or kind == 'image_url' -%}<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif kind == 'video' -%}<|vision_start|><|video_pad|><|vision_end|>"
    "{%- elif content.get('text') is not none -%}{{ content['text'] }}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{%- endmacro -%}"
    "{%- for message in messages -%}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['role'] == 'assistant' -%}"
    "{% generation %}{{ render_content(message) }}<|im_end|>{% endgeneration %}"
    "{%- else -%}{{ render_content(message) }}<|im_end|>"
    "{%- endif -%}"
    "{{ '\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif -%}"
)
"""Qwen2-VL's chat format (``<|im_start|>role\\n...<|im_end|>\\n``, images as vision_start/image_pad/vision_end)
with generation markers around each assistant turn's content and its ``<|im_end|>``."""


STRUCTURE_TOKENS = (
    ", ", "[[", "]]", "], [", '[{"bbox_2d": [', '{"bbox_2d": [', '], "label": "', '"}, ', '"}]',
    "<think>", "</think>", "<answer>", "</answer>",
)
"""Fixed fragments of the answer formats (points, JSON boxes, the CoT wrapper), one token each (version 2)."""


def number_token_strings(n: int) -> list[str]:
    """``"0" .. str(n - 1)``: added tokens match longest first, so ``"105"`` is one token, never ``1 0 5``."""
    return [str(i) for i in range(n)]


def add_answer_tokens(tok: PreTrainedTokenizerFast, n_numbers: int, *, structure: bool = True) -> int:
    """Add ``"0" .. str(n_numbers - 1)`` and (optionally) ``STRUCTURE_TOKENS`` as plain (non-special) tokens.

    They decode to their literal text, so ``decode(encode(s)) == s`` still holds and parsers see the same
    strings. Returns the number of tokens added.
    """
    from tokenizers import AddedToken

    new = number_token_strings(n_numbers) + (list(STRUCTURE_TOKENS) if structure else [])
    return tok.add_tokens([AddedToken(t, normalized=False) for t in new])


def train_tokenizer(texts: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Train the byte-level BPE on ``texts`` and wrap it for transformers.

    Training is deterministic for a given corpus (checked by a test): the ``tokenizers`` BPE trainer breaks count
    ties by pair order.

    Args:
        texts: the training corpus (see :func:`pr1bench.models.corpus.build_corpus`).
        vocab_size: target size including the 256 byte tokens and the special tokens.

    Returns:
        A ``PreTrainedTokenizerFast`` with eos ``<|im_end|>``, pad ``<|endoftext|>`` and the chat template set.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    return _wrap(tok)


def _wrap(tok: object) -> PreTrainedTokenizerFast:
    """Wrap a raw ``tokenizers.Tokenizer`` with Qwen2-VL's token roles and our chat template."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        unk_token=None,
        bos_token=None,
        additional_special_tokens=[t for t in SPECIAL_TOKENS if t not in (EOS_TOKEN, PAD_TOKEN)],
        clean_up_tokenization_spaces=False,
        padding_side="left",
        model_max_length=4096,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast
