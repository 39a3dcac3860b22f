"""Chat models grounded answers are written by: the protocol, the OpenAI-compatible endpoint, the prompts."""

from vectorhouse.chat.base import ChatMessage, ChatModel, ChatOptions, ChatReply
from vectorhouse.chat.openai import OpenAIChat

__all__ = ["ChatMessage", "ChatModel", "ChatOptions", "ChatReply", "OpenAIChat"]
