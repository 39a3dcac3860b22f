"""Every prompt vectorhouse sends a chat model, in one place: answering from numbered passages, and query rewriting.

An answer's passages are numbered ``[1]``, ``[2]``, ... in rank order and the model is told to cite
them with those numbers; ``chat/citations.py`` turns the numbers back into file citations. Which
passages are shown (the best that fit ``chat_context_tokens``) is decided before these are called.
"""

from __future__ import annotations

from collections.abc import Sequence

from vectorhouse.chat.base import ChatMessage

ANSWER_INSTRUCTIONS = """\
Answer the user's question using only the numbered passages below, which come from the user's own files.
After each statement, cite the passage it comes from by its number in square brackets, like [1] or [2][3].
If the passages do not hold the answer, say that the files do not answer it; never use other knowledge."""

NO_PASSAGES = "(The search found no passages for this question.)"

REWRITE_INSTRUCTIONS = """\
Rewrite the user's text as one short search query for a document search engine: its key terms and phrases,
no explanation, no quotes. Answer with the query alone."""


def passages_text(passages: Sequence[tuple[str, str]]) -> str:
    """(source name, text) pairs as the numbered block the instructions speak of."""
    return "\n\n".join(f"[{i}] (from {name})\n{text}" for i, (name, text) in enumerate(passages, 1)) or NO_PASSAGES


def answer_messages(conversation: Sequence[ChatMessage], passages: Sequence[tuple[str, str]],
                    instructions: str | None) -> list[ChatMessage]:
    """The system message (our instructions, the caller's, the passages), then the caller's conversation."""
    system = ANSWER_INSTRUCTIONS
    if instructions:
        system += "\n\n" + instructions
    system += "\n\nPassages:\n\n" + passages_text(passages)
    return [ChatMessage("system", system), *conversation]


def rewrite_messages(query: str) -> list[ChatMessage]:
    return [ChatMessage("system", REWRITE_INSTRUCTIONS), ChatMessage("user", query)]
