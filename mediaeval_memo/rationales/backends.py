"""Backends that turn rationale prompts into text: a local transformers causal LM, or an OpenAI-compatible endpoint.

Both take a batch of user messages and return one string each, in order. Decoding is greedy by default so that the
same prompts give the same rationales; `temperature > 0` samples from a seeded generator.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from mediaeval_memo.core.errors import InputError, Problem


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 160
    temperature: float = 0.0
    seed: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature, "seed": self.seed}


class Backend(Protocol):
    """Generates one reply per user message; `model` names what generated it (part of the cache key)."""

    model: str

    def generate(self, prompts: Sequence[str], settings: GenerationSettings) -> list[str]: ...


def is_endpoint(llm: str) -> bool:
    return llm.startswith(("http://", "https://"))


class TransformersBackend:
    """A local causal LM by name or path (or `tiny-random-gemma3`), batched, left-padded, on GPU when there is one."""

    def __init__(self, name_or_path: str, device: str = "auto"):
        import torch

        from mediaeval_memo.models.causal_lm import load_causal_lm

        self.model = name_or_path
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self._lm, self._tokenizer = load_causal_lm(name_or_path, self.device, source="--llm")
        self._tokenizer.padding_side = "left"
        # Prompts longer than the model's context lose their start: the video and the instruction come last.
        self._tokenizer.truncation_side = "left"
        limit = getattr(self._tokenizer, "model_max_length", None)
        self.context = limit if isinstance(limit, int) and limit < 1_000_000 else None
        if self._tokenizer.pad_token_id is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token
        self._lm.to(self.device)

    def _render(self, prompt: str) -> str:
        if getattr(self._tokenizer, "chat_template", None):
            messages = [{"role": "user", "content": prompt}]
            return str(self._tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        return prompt

    def encode(self, prompts: Sequence[str], max_new_tokens: int) -> dict[str, Any]:
        """The prompts as the model reads them: through the chat template, left-padded, cut from the left so that
        `max_new_tokens` of reply still fit in the context."""
        texts = [self._render(p) for p in prompts]
        # The chat template already starts with <bos> (Gemma-3); a second from the tokenizer would be one too many.
        # Plain prompts get the tokenizer's own special tokens.
        templated = bool(getattr(self._tokenizer, "chat_template", None))
        max_prompt = None if self.context is None else max(self.context - max_new_tokens, 16)
        enc = self._tokenizer(
            texts,
            return_tensors="pt",
            padding=True,
            add_special_tokens=not templated,
            truncation=max_prompt is not None,
            max_length=max_prompt,
        )
        return {k: v.to(self.device) for k, v in enc.items()}

    def generate(self, prompts: Sequence[str], settings: GenerationSettings) -> list[str]:
        import torch

        enc = self.encode(prompts, settings.max_new_tokens)
        kwargs: dict[str, Any] = {
            "max_new_tokens": settings.max_new_tokens,
            "pad_token_id": self._tokenizer.pad_token_id,
        }
        if settings.temperature > 0:
            kwargs.update(do_sample=True, temperature=settings.temperature)
            torch.manual_seed(settings.seed)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            out = self._lm.generate(**enc, **kwargs)
        new_tokens = out[:, enc["input_ids"].shape[1] :]
        return [t.strip() for t in self._tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]


class OpenAIBackend:
    """An OpenAI-compatible chat-completions endpoint (vLLM, Ollama, llama.cpp server) given by its base URL.

    `url` may be the base (`http://localhost:11434/v1`) or the full `.../chat/completions` address. Requests of a
    batch run concurrently; the server does the batching.
    """

    def __init__(self, url: str, model: str, api_key: str | None = None, timeout_s: float = 300.0, workers: int = 8):
        if not model:
            raise InputError(
                Problem("command line", "an endpoint needs the model name it serves", field="--llm-model", value=model)
            )
        self.url = url if url.rstrip("/").endswith("/chat/completions") else url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.workers = workers

    def _one(self, prompt: str, settings: GenerationSettings) -> str:
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": settings.max_new_tokens,
            "temperature": settings.temperature,
            "seed": settings.seed,
        }
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, data=json.dumps(body).encode("utf-8"), headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                reply = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", errors="replace")[:200]
            raise InputError(Problem(self.url, f"endpoint answered HTTP {exc.code}: {detail}")) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise InputError(Problem(self.url, f"cannot reach the endpoint ({reason})")) from None
        except json.JSONDecodeError:
            raise InputError(Problem(self.url, "endpoint answered with something other than JSON")) from None
        try:
            return str(reply["choices"][0]["message"]["content"]).strip()
        except (KeyError, IndexError, TypeError):
            raise InputError(
                Problem(self.url, "reply is not a chat completion (no choices[0].message.content)")
            ) from None

    def generate(self, prompts: Sequence[str], settings: GenerationSettings) -> list[str]:
        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(prompts)))) as pool:
            return list(pool.map(lambda p: self._one(p, settings), prompts))
