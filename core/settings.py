"""All settings in one place, read from ``QA_*`` environment variables (and CLI flags)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QA_", extra="ignore")

    index_dir: Path = Field(default=Path("qa-index"), description="Where the index lives.")
    database_url: SecretStr | None = Field(
        default=None,
        description="postgresql://... keeps the index in PostgreSQL (pgvector), shared by any "
        "number of qa-serve replicas; unset: the embedded index in index_dir.",
    )
    pg_ef_search: int = Field(
        default=100,
        ge=1,
        le=1000,
        description="PostgreSQL only: HNSW candidates per vector search (pgvector's "
        "hnsw.ef_search). Higher finds more of the true nearest passages, slower.",
    )
    host: str = Field(default="127.0.0.1", description="Bind address; 127.0.0.1 unless told.")
    port: int = 8000
    api_key: SecretStr | None = Field(default=None, description="Bearer key required for writes.")
    cors_origins: list[str] = Field(default_factory=list, description="CORS is off unless set.")
    demo_dir: Path | None = Field(
        default=None,
        description="Articles indexed by qa-serve when the index is empty (default: the demo "
        "articles bundled with the package).",
    )

    # Embedding / retrieval
    embed_backend: Literal["onnx", "torch"] = Field(
        default="onnx", description="ONNX Runtime (fast, no torch to answer) or torch."
    )
    embed_batch_size: int | None = Field(
        default=None,
        ge=1,
        description="Passages per forward pass when indexing; default per backend: ONNX 1 "
        "(one single-threaded session per core), torch 8 (python -m bench.index --sweep).",
    )
    query_precision: Literal["fp32", "int8"] = Field(
        default="int8",
        description="int8: embed questions (never passages) with int8 weights (ONNX backend): "
        "2x faster, same recall@5 on dev; fp32: the exact model.",
    )
    passage_max_tokens: int = Field(
        default=250, description="Passage budget in word pieces, under the 256 window."
    )
    passage_overlap_sentences: int = 1
    index_chunk_passages: int = Field(
        default=512, description="Passages embedded and committed per transaction."
    )
    retrieve_candidates: int = 50
    fusion: Literal["convex", "rrf"] = "convex"
    hybrid_alpha: float = Field(default=0.7, ge=0.0, le=1.0, description="Dense share in fusion.")
    rrf_k: int = 60
    rerank_candidates: int = Field(default=20, description="Fused passages reranked.")
    rerank_weight: float = Field(default=0.2, description="Weight of the sentence feature.")
    rerank_passages: int = Field(default=3, description="Top passages handed to the reader.")

    # Reading / answering
    reader: Literal["trained", "heuristic"] = "trained"
    reader_backend: Literal["onnx", "torch"] = Field(
        default="onnx", description="ONNX Runtime (fast, no torch) or torch for the reader."
    )
    reader_precision: Literal["fp32", "int8"] = Field(
        default="int8",
        description="int8: the ONNX reader with int8 weights, smoothed before quantising "
        "(1.3-1.7x faster; on dev answer-in-quote 0.906, fp32 0.903); fp32: the exact "
        "weights (the only choice with the torch backend, and its default).",
    )
    reader_sessions: int | None = Field(
        default=None,
        ge=1,
        description="How many reader windows run at once (ONNX: a session each): concurrent "
        "questions share the cores instead of queueing. Default: one per core (qa-serve "
        "--workers N: the cores shared out among the workers).",
    )
    ask_concurrency: int | None = Field(
        default=None,
        ge=1,
        description="Questions answered at once per engine; more wait their turn (many "
        "threads running Python at once contend for the GIL and leave cores idle). Default: "
        "two per core (python -m bench.throughput, 2 cores, 16 clients: 39.4 req/s at 100k "
        "passages against 35.6 with one per core).",
    )
    reader_threads: int | None = Field(
        default=None,
        ge=1,
        description="Intra-op threads of each reader session. Default: the cores shared out "
        "among the sessions (1 with one session per core, which spends the least CPU per "
        "window).",
    )
    read_more_below: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="The reader reads the best passage first and the next ones only when its "
        "best span scores below this (1.0: always read all rerank_passages; default: the "
        "reader's own, 0.4 for the heuristic one, 0 for the trained one).",
    )
    read_more_no_answer: float = Field(
        default=0.01,
        ge=0.0,
        le=1.0,
        description="... or when the reader gives the best passage at least this probability "
        "of holding no answer (readers that estimate it: the trained one). On dev, 0.01 reads "
        "more for 36 % of the questions at F1 75.5 and answer-in-quote 0.881; 5e-4 for 82 % at "
        "75.8 and 0.882 (the difference within one standard error).",
    )
    read_window_tokens: int = Field(
        default=128,
        ge=0,
        description="The best passage is first read as a window of whole sentences around the "
        "reranker's best sentence pair, at most this many word pieces; the whole passage is "
        "read only when the reader is not sure of the window (by the read_more rules). On dev "
        "the answers are level with reading it whole (F1 78.0 against 78.1, answer-in-quote "
        "0.906 both), at 100k passages ask p50 0.9x. 0: always the whole passage.",
    )
    quote_neighbour_share: float | None = Field(
        default=None,
        ge=0.0,
        description="A sentence next to the answer's joins the quote when the reader's spans "
        "in it weigh at least this share of the answer sentence's (default: the reader's own, "
        "0.1 for the trained one, off for the heuristic one; above 1.0: never).",
    )
    quote_min_words: int = Field(
        default=20,
        ge=0,
        description="A quote shorter than this many words also shows a neighbouring sentence "
        "(the one the reader weighs more; 0: off).",
    )
    reader_path: Path | None = Field(default=None, description="Override the bundled reader.")
    answer_threshold: float | None = Field(
        default=None,
        description="Below this score: not found. Default: the calibrated gate, which also "
        "reads the answer verifier, for the best answer and this threshold for the others.",
    )
    verify_answers: bool = Field(
        default=True,
        description="Run the answer verifier on the best answer and let the calibrated gate "
        "decide whether to show it (off: the score alone decides).",
    )
    default_k: int = 3
    max_k: int = 20
    max_question_chars: int = 2000
    max_body_bytes: int = 1_000_000
    request_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Each request (headers and body) must arrive within this time of its first "
        "byte, else 408 and the connection is closed (slow or half-sent requests).",
    )
    max_article_bytes: int = Field(
        default=20_000_000, description="Files (JSONL: lines) over this are reported, not indexed."
    )

    # Web sources (qa-index add URL..., qa-index refresh, POST /api/sources)
    fetch_user_agent: str | None = Field(
        default=None,
        description="The User-Agent of every request, and the name robots.txt rules are read "
        "for (default: indexer.fetch.DEFAULT_USER_AGENT, 'article-qa/0.1 (...)').",
    )
    fetch_timeout_s: float = Field(default=15.0, gt=0, description="Per request, all told.")
    fetch_max_bytes: int = Field(default=5_000_000, ge=1, description="Per body, unpacked.")
    fetch_max_redirects: int = Field(default=5, ge=0)
    fetch_host_interval_s: float = Field(
        default=1.0, ge=0, description="Between two requests to one host (or its Crawl-delay)."
    )
    fetch_max_pages: int = Field(
        default=500, ge=1, description="Pages read per URL given (a feed's or sitemap's)."
    )
    allow_private_urls: bool = Field(
        default=False,
        description="Let the HTTP API fetch loopback and private addresses (the CLI always may).",
    )
    refresh_minutes: float | None = Field(
        default=None,
        gt=0,
        description="qa-serve re-reads every URL source this often (unset: never).",
    )

    # Slack (standard Slack variable names, no QA_ prefix)
    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "QA_SLACK_BOT_TOKEN")
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "QA_SLACK_SIGNING_SECRET"),
    )
    slack_app_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "QA_SLACK_APP_TOKEN")
    )
    slack_api_url: str | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_API_URL", "QA_SLACK_API_URL")
    )

    @model_validator(mode="after")
    def _fp32_with_torch(self) -> Settings:
        # int8 is an ONNX graph: with the torch reader, fp32 unless int8 was asked for (an
        # error then, from the reader).
        if self.reader_backend == "torch" and "reader_precision" not in self.model_fields_set:
            self.reader_precision = "fp32"
        return self

    @field_validator("host")
    @classmethod
    def _blank_host_is_local(cls, value: str) -> str:
        # An empty QA_HOST (a blank line in an env file) would bind every interface.
        return value.strip() or "127.0.0.1"


def available_cores() -> int:
    """The cores this process may run on (Linux: as taskset and cgroup cpusets allow)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@lru_cache
def get_settings() -> Settings:
    return Settings()
