"""The gym tokenizer: one token per word of the gym language, saved as an ordinary HF tokenizer.

A word-level tokenizer keeps the gym's lengths honest (a response's token count is its word count,
the length the annotator's bias is defined on) and makes every model trained on the gym small. It is
saved with ``save_pretrained`` so the rest of the harness loads it with ``AutoTokenizer`` exactly as
it loads a real model's tokenizer, chat template included.

Special tokens: ``<pad>`` (0), ``<unk>``, ``<s>``, ``</s>`` and the role markers ``<|system|>``,
``<|user|>``, ``<|assistant|>``. Encoding adds no special tokens by itself; the chat template adds
``<s>`` and the role markers, and closes each assistant turn with ``</s>``:

    <s> <|user|> review the phone . <|assistant|> the screen is good . </s>

With ``add_generation_prompt=True`` the rendered prompt ends with ``<|assistant|>``, so the response
tokens follow it directly.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from bench.gym.language import Language

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
ROLE_MARKERS: tuple[str, ...] = ("<|system|>", "<|user|>", "<|assistant|>")
SPECIAL_TOKENS: tuple[str, ...] = (PAD, UNK, BOS, EOS, *ROLE_MARKERS)

CHAT_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- for message in messages -%}"
    "{%- if message['role'] not in ['system', 'user', 'assistant'] -%}"
    "{{- raise_exception('gym chat template: unknown role ' + message['role']) -}}"
    "{%- endif -%}"
    "{{- ' <|' + message['role'] + '|> ' + (message['content'] | trim) -}}"
    "{%- if message['role'] == 'assistant' -%}{{- ' ' + eos_token -}}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- ' <|assistant|>' -}}{%- endif -%}"
)
"""User turn, then assistant turn; every token separated by one space, as the language itself is."""


def build_tokenizer(language: Language, directory: Path) -> PreTrainedTokenizerFast:
    """Build the word-level tokenizer for ``language``, save it to ``directory`` and return it.

    Ids are fixed by the special tokens' order and the (sorted) vocabulary, so the same language always
    gives the same ids, which the reference cache's key relies on.
    """
    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *language.vocabulary])}
    if len(vocab) != len(SPECIAL_TOKENS) + len(language.vocabulary):
        raise ValueError("gym vocabulary overlaps the special tokens or has duplicates")
    if any(w.startswith("##") for w in language.vocabulary):
        raise ValueError("gym vocabulary words may not start with '##' (the decoder's continuation prefix)")
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    # WordPiece's decoder without clean-up joins tokens with one space: exactly the language's spelling.
    core.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    core.add_special_tokens(list(SPECIAL_TOKENS))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS, eos_token=EOS, unk_token=UNK, pad_token=PAD,
        additional_special_tokens=list(ROLE_MARKERS),
        padding_side="right",
        clean_up_tokenization_spaces=False,
        model_max_length=256,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(directory))
    return tokenizer
