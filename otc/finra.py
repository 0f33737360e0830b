"""FINRA's Query API (docs/fetching.md): which weeks are published, and a week's rows as a file.

HTTP goes through one urllib3 PoolManager per client, whose `Retry` policy does every retry:
connection failures get one quick second try, so an offline run ends within seconds; dropped
connections, timeouts, 429 and 5xx get up to five tries with exponential backoff, honouring
Retry-After up to a minute. What comes back is judged by `otc.finra_file`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import hashlib
import importlib.metadata
import json
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager as ContextManager
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError, DecodeError, HTTPError, InvalidHeader, MaxRetryError, NameResolutionError, NewConnectionError,
    ProtocolError, ReadTimeoutError, SSLError,
)
from urllib3.util.retry import Retry

from otc import store
from otc.errors import FinraBadData, FinraRefused, FinraUnreachable, ParameterError
from otc.finra_file import (
    PAGE_LIMIT, SUMMARY_TYPE, TIER_IDENTIFIERS, Answer, CachedWeeks, WeekQuery, check_rows, error_message,
    file_content, one_line, published_weeks, read_page, record_total,
)
from otc.tiers import Tier

__all__ = [
    "DEFAULT_BASE_URL", "PAGE_LIMIT", "SUMMARY_TYPE", "TIER_IDENTIFIERS", "FinraClient", "WeekDownload",
    "load_published_weeks", "not_published_message", "resolve_base_url", "user_agent",
]

DEFAULT_BASE_URL = "https://api.finra.org"
#: Requests in flight at most, whatever runs side by side (see `otc.slots`).
MAX_IN_FLIGHT = 4
URL_VARIABLE = "OTC_FINRA_URL"
DATA_PATH = "/data/group/otcMarket/name/weeklySummary"
PARTITIONS_PATH = "/partitions/group/otcMarket/name/weeklySummary"
#: Weeks after a week ends until FINRA usually publishes it.
PUBLICATION_DELAY_WEEKS = {Tier.NMS_TIER_1: 2, Tier.NMS_TIER_2: 4, Tier.OTC: 4}
RETRY_AFTER_CAP = 60.0
RETRY_STATUSES = frozenset({429, *range(500, 600)})
CACHE_MAX_AGE = dt.timedelta(minutes=15)


def resolve_base_url(finra_url: str | None, environ: Mapping[str, str]) -> str:
    """`OTC_FINRA_URL` if set, else `finra_url`, else FINRA's own; without a trailing `/`."""
    for name, value in ((URL_VARIABLE, environ.get(URL_VARIABLE)), ("finra_url", finra_url)):
        if value and value.strip():
            url = value.strip().rstrip("/")
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ParameterError(f"{name} must be an http:// or https:// URL, got {value!r}")
            return url
    return DEFAULT_BASE_URL


def user_agent() -> str:
    try:
        version = importlib.metadata.version("otc-backfill")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        version = "0.1.0"
    return f"otc-backfill/{version}"


def not_published_message(tier: Tier, week_ending: dt.date) -> str:
    expected = week_ending + dt.timedelta(weeks=PUBLICATION_DELAY_WEEKS[tier])
    return (f"Not yet published by FINRA: {tier.value} week ending {week_ending.isoformat()} "
            f"(FINRA publishes NMS Tier 1 about 2 weeks after a week ends, NMS Tier 2 and OTC about 4 weeks; "
            f"expected around {expected.isoformat()})")


@dataclasses.dataclass(frozen=True)
class WeekDownload:
    """A tier-week's rows as a file in FINRA's format, and how they were fetched.

    `pages` counts the POST requests (an empty or 204 last page included). `wait_seconds` is the
    time spent in HTTP requests and `work_seconds` decoding, checking and writing lines, each
    summed over pages; pages overlap when fetched side by side, so the sums may exceed `seconds`.
    """

    tier: Tier
    week_ending: dt.date
    url: str
    request_body: dict
    pages: int
    rows: int
    retries: int
    content: bytes
    sha256: str
    seconds: float
    wait_seconds: float
    work_seconds: float

    @property
    def bytes(self) -> int:
        return len(self.content)


class _FetchAhead:
    """Answers for `offsets`, in order, fetched by `workers` threads from the start, so requests
    keep going while the caller checks earlier pages; at most twice `workers` answers are held.

    Leaving early (a short page, a failure) returns at once: requests still in flight end on
    their own and their answers are dropped.
    """

    def __init__(self, fetch: Callable[[int], Answer], offsets: range, workers: int):
        self._fetch = fetch
        self._todo = iter(offsets)
        self._held = 2 * workers
        self._pending: deque[Future[Answer]] = deque()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="finra-page") if offsets else None
        self._top_up()

    def _top_up(self) -> None:
        while self._pool is not None and len(self._pending) < self._held:
            offset = next(self._todo, None)
            if offset is None:
                return
            self._pending.append(self._pool.submit(self._fetch, offset))

    def __iter__(self) -> Iterator[Answer]:
        return self

    def __next__(self) -> Answer:
        if not self._pending:
            raise StopIteration
        future = self._pending.popleft()
        self._top_up()
        return future.result()

    def __enter__(self) -> "_FetchAhead":
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


class _CappedRetry(Retry):
    """urllib3's Retry, with Retry-After capped (it has no cap of its own in older urllib3) and a
    malformed Retry-After ignored (urllib3 would raise InvalidHeader) so the backoff applies."""

    def parse_retry_after(self, retry_after: str) -> float:
        try:
            seconds = super().parse_retry_after(retry_after)
        except InvalidHeader:
            return 0.0  # 0 is "no Retry-After": Retry.sleep falls back to the backoff
        return min(seconds, RETRY_AFTER_CAP)


def retry_policy(*, tries: int, connect_tries: int, backoff_factor: float) -> Retry:
    """At most `tries` tries a request; connection failures only `connect_tries`, other errors
    (TLS) one. A 429 or 5xx on the last try is returned, not raised, so its message can be shown."""
    return _CappedRetry(
        total=tries - 1, connect=connect_tries - 1, read=tries - 1, status=tries - 1, other=0,
        redirect=False, allowed_methods=frozenset({"GET", "POST"}), status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff_factor, backoff_max=RETRY_AFTER_CAP, raise_on_status=False,
        respect_retry_after_header=True,
    )


class FinraClient:
    """One connection pool to FINRA's Query API, at most `max_in_flight` requests at a time.

    Once FINRA is found unreachable, every later call fails at once with the same message.
    """

    def __init__(self, base_url: str, *, user_agent: str, connect_timeout: float = 3.0,
                 read_timeout: float = 60.0, backoff_factor: float = 0.5, tries: int = 5,
                 connect_tries: int = 2, max_in_flight: int = MAX_IN_FLIGHT,
                 slots: Callable[[], ContextManager[object]] | None = None):
        self.base_url = base_url.rstrip("/")
        self.tries = tries
        self.connect_tries = connect_tries
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_in_flight = max_in_flight
        # shared with the other processes of a parallel run (each request holds one slot)
        self._slots = slots or contextlib.nullcontext
        # block=True: a fifth request waits for a connection instead of opening one more
        self._http = urllib3.PoolManager(
            num_pools=2, maxsize=max_in_flight, block=True,
            retries=retry_policy(tries=tries, connect_tries=connect_tries, backoff_factor=backoff_factor),
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            headers={"User-Agent": user_agent, "Accept": "application/json", "Accept-Encoding": "gzip"},
        )
        self._unreachable: FinraUnreachable | None = None

    def close(self) -> None:
        self._http.clear()

    def __enter__(self) -> "FinraClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def published_weeks(self) -> dict[Tier, tuple[dt.date, ...]]:
        """Week endings (Fridays) FINRA lists as published, per tier, oldest first."""
        response, _ = self._request("GET", PARTITIONS_PATH, None, "the published weeks")
        try:
            payload = json.loads(response.data)
        except (ValueError, RecursionError):
            raise FinraBadData(f"FINRA sent a partitions answer that is not JSON: "
                               f"{one_line(response.data.decode('utf-8', 'replace'))}") from None
        return published_weeks(payload)

    def download_week(self, tier: Tier, week_ending: dt.date) -> WeekDownload:
        """Every row of a tier-week, page by page, checked and written as a file in FINRA's format.

        When FINRA says how many rows there are (`Record-Total`), the pages after the first are
        requested side by side while this thread checks the pages already there, in order.
        """
        query = WeekQuery(tier, week_ending)
        started = time.perf_counter()
        first = self._fetch(query, 0)
        total = first.record_total
        # up to the page just past the total: a full last page is followed by an empty one
        later = range(PAGE_LIMIT, total + 1 if total is not None else 0, PAGE_LIMIT)
        with _FetchAhead(functools.partial(self._fetch, query), later, self.max_in_flight) as ahead:
            pages = [read_page(query, first)]  # while the next pages are on their way
            for answer in ahead:
                if pages[-1].rows < PAGE_LIMIT:  # the rest cannot be right: the totals will not add up
                    break
                pages.append(read_page(query, answer))
        while pages[-1].rows == PAGE_LIMIT:  # a full last page: there may be more
            pages.append(read_page(query, self._fetch(query, pages[-1].answer.offset + PAGE_LIMIT)))
        rows = check_rows(query, pages)
        work_started = time.perf_counter()
        content = file_content(page.text for page in pages)
        sha256 = hashlib.sha256(content).hexdigest()
        finished = time.perf_counter()
        return WeekDownload(
            tier=tier, week_ending=week_ending, url=self.base_url + DATA_PATH,
            request_body=query.body(0, PAGE_LIMIT), pages=len(pages), rows=rows,
            retries=sum(page.answer.retries for page in pages), content=content, sha256=sha256,
            seconds=finished - started, wait_seconds=sum(page.answer.wait_seconds for page in pages),
            work_seconds=sum(page.work_seconds for page in pages) + finished - work_started,
        )

    def _fetch(self, query: WeekQuery, offset: int) -> Answer:
        """One page's request and its answer, undecoded (runs in worker threads)."""
        started = time.perf_counter()
        body = json.dumps(query.body(offset, PAGE_LIMIT)).encode()
        response, retries = self._request("POST", DATA_PATH, body, f"{query.label}, offset {offset}")
        total = record_total(response.headers.get("Record-Total"), query, offset)
        return Answer(offset, response.status, response.data, total, retries, time.perf_counter() - started)

    def _request(self, method: str, path: str, body: bytes | None, what: str) -> tuple[urllib3.BaseHTTPResponse, int]:
        """Send one request through the retry policy; return a 2xx answer and how many retries it took."""
        if self._unreachable is not None:
            raise FinraUnreachable(str(self._unreachable))
        headers = None if body is None else {**self._http.headers, "Content-Type": "application/json"}
        try:
            with self._slots():
                response = self._http.request(method, self.base_url + path, body=body, headers=headers,
                                              redirect=False)
        except MaxRetryError as exc:
            raise self._failure(exc.reason, method, path, what) from None
        except DecodeError as exc:  # a compressed body that does not decompress
            raise FinraBadData(f"FINRA sent a body that cannot be decoded for {what}: {one_line(str(exc))}") \
                from None
        except HTTPError as exc:  # urllib3 raises a few errors without retrying (a bad header, say)
            raise self._failure(exc, method, path, what) from None
        retries = len(response.retries.history) if response.retries is not None else 0
        if not 200 <= response.status < 300:
            after = f" after {retries + 1} tries" if retries else ""
            raise FinraRefused(f"FINRA answered HTTP {response.status} {response.reason or ''}".rstrip()
                               + f"{after} to {method} {path} ({what}): {error_message(response.data)}")
        return response, retries

    def _failure(self, reason: Exception | None, method: str, path: str, what: str) -> Exception:
        """A urllib3 failure as one of our errors; a connection that cannot be made is remembered."""
        prefix = f"Cannot reach FINRA at {self.base_url}"
        request = f"{method} {path} ({what})"
        if isinstance(reason, NameResolutionError):
            error = FinraUnreachable(f"{prefix}: cannot resolve {urlsplit(self.base_url).hostname} "
                                     f"({_cause(reason)}; {self.connect_tries} tries)")
        elif isinstance(reason, NewConnectionError):
            error = FinraUnreachable(f"{prefix}: {_cause(reason)} ({self.connect_tries} tries)")
        elif isinstance(reason, ConnectTimeoutError):
            error = FinraUnreachable(f"{prefix}: no connection within {self.connect_timeout:g} s "
                                     f"({self.connect_tries} tries)")
        elif isinstance(reason, SSLError):
            detail = reason.args[0] if reason.args else reason
            error = FinraUnreachable(f"{prefix}: TLS error: {one_line(str(detail))}")
        elif isinstance(reason, ReadTimeoutError):
            return FinraUnreachable(f"{prefix}: no answer within {self.read_timeout:g} s, {self.tries} tries, "
                                    f"to {request}")
        elif isinstance(reason, ProtocolError):
            return FinraUnreachable(f"{prefix}: connection dropped before a full answer, {self.tries} tries, "
                                    f"to {request}: {_cause(reason)}")
        else:
            return FinraRefused(f"FINRA request {request} failed: {one_line(str(reason))}")
        self._unreachable = error
        return error


def _cause(error: Exception) -> str:
    """The OS's short reason behind a urllib3 error ("Connection refused"), else urllib3's text."""
    cause = error
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
    if isinstance(error, ProtocolError) and len(error.args) > 1:
        return one_line(str(error.args[1]))
    return one_line(str(error))


def load_published_weeks(client: FinraClient | Callable[[], FinraClient], cache_file: Path, now: dt.datetime, *,
                         max_age: dt.timedelta = CACHE_MAX_AGE,
                         base_url: str | None = None) -> dict[Tier, tuple[dt.date, ...]]:
    """FINRA's published weeks, from `cache_file` while it is younger than `max_age` and was
    fetched from the same base URL, else from FINRA (then cached). A corrupt cache is ignored.

    `client` may be a factory, called only when FINRA must be asked; `base_url` defaults to the
    client's. `now` should be aware; a naive one is taken as UTC.
    """
    if base_url is None and isinstance(client, FinraClient):
        base_url = client.base_url
    now = now.replace(tzinfo=dt.timezone.utc) if now.tzinfo is None else now
    cached = CachedWeeks.read(cache_file)
    if (cached is not None and dt.timedelta(0) <= now - cached.fetched_at < max_age
            and base_url in (None, cached.base_url)):
        return cached.weeks
    if not isinstance(client, FinraClient):
        client = client()
    weeks = client.published_weeks()
    try:
        store.write_json(CachedWeeks(client.base_url, now, weeks).to_json(), cache_file)
    except OSError:
        pass  # a cache that cannot be written only costs one more request next time
    return weeks
