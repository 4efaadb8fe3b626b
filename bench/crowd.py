"""Benchmark `crowd`: a storm's public viewers on the light status page and on the Streamlit page.

The real server (`streamlit run dashboard/server.py`) runs on a free loopback port over a fresh
SQLite file holding a demo-sized territory with a storm's outages. Two crowds, one after the other
against the same process, from one async client in this process (so the load generator shares the
machine's cores with the server, as the budget says):

1. **The light page** (`/status/`): `viewers` arrive evenly over `arrival_seconds`. Each loads the
   page, Leaflet's files and the three snapshot files once, as a browser with an empty cache does,
   then revalidates the snapshot files every `poll_seconds` with `If-None-Match`, as the page's
   script does (`fetch(..., {cache: "no-cache"})`), until the last viewer has polled once. Bodies
   are read as sent (gzip) and not decoded, as the network carries them.
2. **The Streamlit public page** (`/`): sessions as a browser opens them (the page's HTML, then a
   websocket to `/_stcore/stream` asking for a script run, timed to its `script_finished`), each
   running the page again every `poll_seconds` as a reload would, in steps that double the number
   of open sessions until a step has an error or a p99 over 1 s: where it broke. Streamlit's
   JavaScript bundle is not fetched (a browser caches it), and the map's own fetch of the areas
   feed is not made, so its figures are, if anything, kinder to Streamlit than a browser would be.

Server CPU and memory are read from /proc of the server process over each crowd. Latency is from
sending a request to its last byte, measured in this process (its own queueing included).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from bench.common import BenchRow
from bench.dispatch import storm_on_territory, without_incidents
from bench.load import ROOT, _free_port, _tail, _wait_until_healthy, percentile
from emergency.app.bootstrap import prepare_schema
from emergency.core.clock import SYSTEM_CLOCK, FakeClock
from emergency.core.db import Database
from emergency.demo.load import load_territory
from emergency.demo.parameters import DEFAULT_SEED
from emergency.demo.territory import generate_territory

T = TypeVar("T")

CROWD_VIEWERS = 10_000
CROWD_ARRIVAL_S = 300.0
CROWD_POLL_S = 60.0
CROWD_CUSTOMERS = 50_000  # the demo's size
CROWD_OUTAGES = 600  # a storm on the demo territory: a few hundred outage areas on the map
CROWD_CREWS = 60
P99_LIMIT_S = 1.0
REQUEST_TIMEOUT_S = 30.0
# One pool of keep-alive connections for the whole crowd: a browser keeps a few per site, but ten
# thousand sockets from one process would measure this machine's file limits, not the server.
CONNECTIONS = 256
KEEP_ALIVE_S = 4.0  # reuse an idle connection this long: under uvicorn's 5 s keep-alive
FEEDS = ("summary.json", "outages.geojson", "districts.geojson")
STREAMLIT_FIRST_STEP = 5
LANGUAGES = ("en-GB,en;q=0.8", "zh-CN,zh;q=0.9,en;q=0.5")  # half the crowd in each
ASSET_URL = re.compile(r"""(?:src|href)="(/status/v/[^"]+)\"""")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- the server process ------------------------------------------------------------------------


@dataclass
class ProcessUse:
    """CPU seconds and resident memory of a process, read from /proc."""

    cpu_s: float
    rss_mb: float

    @classmethod
    def of(cls, pid: int) -> ProcessUse:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
        rss_kb = next(
            int(line.split()[1])
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("VmRSS:")
        )
        return cls(cpu, rss_kb / 1024)


@contextmanager
def crowd_server(db_url: str, workdir: Path) -> Iterator[tuple[str, int]]:
    """The app server on a free loopback port; yields its base URL and process id once healthy."""
    port = _free_port()
    log = workdir / "server.log"
    env = {**os.environ, "OUTAGE_DB_URL": db_url, "PYTHONUNBUFFERED": "1", "OUTAGE_DEMO_SIMULATOR": "off"}
    command = [sys.executable, "-m", "streamlit", "run", "dashboard/server.py", "--server.port", str(port)]
    command += ["--server.headless", "true", "--server.address", "127.0.0.1"]
    command += ["--server.fileWatcherType", "none"]
    with log.open("wb") as log_file:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(base_url, server, log)
        yield base_url, server.pid
    except BaseException:
        print(_tail(log), file=sys.stderr)
        raise
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)


def prepare_territory(db: Database, customers: int, outages: int, crews: int, seed: int) -> None:
    """A generated territory with a storm's outages in the last hour of the real clock."""
    now = datetime.now(UTC).replace(microsecond=0)
    prepare_schema(db, SYSTEM_CLOCK)
    load_territory(
        db, SYSTEM_CLOCK, without_incidents(generate_territory(customers, seed, now - timedelta(hours=2)))
    )
    storm_on_territory(db, FakeClock(now), outages, crews, seed + 2)


# --- what was measured -------------------------------------------------------------------------


@dataclass
class Tally:
    """Every request of one crowd: latencies, statuses and errors, and the bytes received."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    received: int = 0
    started: float = 0.0
    ended: float = 0.0

    def add(self, latency: float, status: int, size: int) -> None:
        self.latencies.append(latency)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.received += size
        if status >= 400:
            self.errors.append(f"HTTP {status}")

    def fail(self, latency: float, error: BaseException) -> None:
        self.latencies.append(latency)
        self.errors.append(f"{type(error).__name__}: {error}"[:200])

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 99)

    @property
    def per_second(self) -> float:
        return len(self.latencies) / max(self.ended - self.started, 1e-9)


@dataclass
class CrowdResult:
    """One crowd's figures: what the clients saw and what the server spent."""

    name: str
    viewers: int
    tally: Tally
    before: ProcessUse
    after: ProcessUse
    held: bool
    note: str = ""
    # RSS before the first viewer of this crowd, when `before` is of a later moment (a ramp's step).
    rss_start_mb: float | None = None

    @property
    def rss_growth_mb(self) -> float:
        start = self.before.rss_mb if self.rss_start_mb is None else self.rss_start_mb
        return self.after.rss_mb - start

    @property
    def seconds(self) -> float:
        return self.tally.ended - self.tally.started

    @property
    def cpu_share(self) -> float:
        """The server's CPU over the crowd, in cores (1.0 = one core busy all the time)."""
        return (self.after.cpu_s - self.before.cpu_s) / max(self.seconds, 1e-9)

    def per_thousand(self, value: float) -> float:
        return value / max(self.viewers / 1000, 1e-9)

    def summary(self) -> str:
        t = self.tally
        return (
            f"{self.name}: {self.viewers:,} viewers, {len(t.latencies):,} requests in {self.seconds:.1f} s "
            f"({t.per_second:,.0f}/s), p50 {t.p50 * 1000:.1f} ms, p99 {t.p99 * 1000:.1f} ms, "
            f"{len(t.errors)} errors, statuses {dict(sorted(t.statuses.items()))}, server CPU "
            f"{self.cpu_share:.2f} cores, RSS {self.before.rss_mb:.0f} -> {self.after.rss_mb:.0f} MB"
            f"{'; ' + self.note if self.note else ''}"
        )


# --- the light page's crowd --------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes


class KeepAliveClient:
    """A minimal HTTP/1.1 GET client over a pool of keep-alive connections, for the crowd.

    httpx spent about a millisecond of CPU per request, so on this 2-core machine the generator,
    not the server, set the pace; this one reads the status line, the headers and
    `Content-Length` bytes, nothing more (the server always sends a length). A connection the
    server closed while idle (uvicorn keeps one 5 s) is replaced and the request sent again once,
    as browsers do."""

    def __init__(self, base_url: str, connections: int) -> None:
        address = base_url.removeprefix("http://").rstrip("/")
        host, _, port = address.partition(":")
        self.host, self.port, self.address = host, int(port or 80), address
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self.slots = asyncio.Semaphore(connections)

    async def get(self, path: str, headers: dict[str, str]) -> Answer:
        lines = [f"GET {path} HTTP/1.1", f"Host: {self.address}", "Accept-Encoding: gzip"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        async with self.slots:
            for attempt in (1, 2):
                kept = self._kept() if attempt == 1 else None
                fresh = kept is None
                reader, writer = kept or await asyncio.open_connection(self.host, self.port)
                try:
                    answer = await asyncio.wait_for(
                        self._exchange(reader, writer, request), REQUEST_TIMEOUT_S
                    )
                except (ConnectionError, asyncio.IncompleteReadError) as error:
                    writer.close()
                    if fresh or attempt == 2:
                        raise ConnectionError(f"connection lost: {error!r}") from error
                    continue  # the server had closed this idle connection: a new one
                except BaseException:
                    writer.close()
                    raise
                if answer.headers.get("connection", "").lower() == "close":
                    writer.close()
                else:
                    self.idle.append((reader, writer, time.monotonic()))
                return answer
        raise AssertionError("unreachable")

    def _kept(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """The most recently used idle connection the server still keeps (uvicorn closes one idle
        for 5 s; a browser stops reusing it before then too); older ones are closed here."""
        now = time.monotonic()
        while self.idle:
            reader, writer, used_at = self.idle.pop()
            if now - used_at < KEEP_ALIVE_S:
                return reader, writer
            writer.close()
        return None

    @staticmethod
    async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> Answer:
        writer.write(request)
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await reader.readexactly(length) if length and status != 304 else b""
        return Answer(status, headers, body)

    async def close(self) -> None:
        for _, writer, _ in self.idle:
            writer.close()
        self.idle.clear()


async def _get(client: KeepAliveClient, tally: Tally, url: str, headers: dict[str, str]) -> Answer | None:
    """One request, its body as sent (gzip, not decoded); None when it failed."""
    start = time.perf_counter()
    try:
        answer = await client.get(url, headers)
    except Exception as error:  # a timeout or a refused connection is an error of this crowd
        tally.fail(time.perf_counter() - start, error)
        return None
    tally.add(time.perf_counter() - start, answer.status, len(answer.body))
    return answer


async def _light_viewer(
    client: KeepAliveClient,
    tally: Tally,
    number: int,
    arrive_at: float,
    end_at: float,
    poll_s: float,
    assets: list[str],
) -> None:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, arrive_at - loop.time()))
    language = {"Accept-Language": LANGUAGES[number % len(LANGUAGES)]}
    page = await _get(client, tally, "/status/", language)
    if page is None:
        return
    await asyncio.gather(*(_get(client, tally, url, {}) for url in assets))
    tags: dict[str, str] = {}

    async def fetch(name: str) -> None:
        headers = {"If-None-Match": tags[name]} if name in tags else {}
        answer = await _get(client, tally, f"/status/data/{name}", headers)
        if answer is not None and "etag" in answer.headers:
            tags[name] = answer.headers["etag"]

    polled_at = loop.time()
    while True:
        await asyncio.gather(*(fetch(name) for name in FEEDS))
        polled_at += poll_s
        if polled_at > end_at:
            return
        await asyncio.sleep(max(0.0, polled_at - loop.time()))


async def light_crowd(base_url: str, pid: int, viewers: int, arrival_s: float, poll_s: float) -> CrowdResult:
    # The page names its versioned assets; every viewer's browser then fetches them once.
    first = httpx.get(f"{base_url}/status/", timeout=REQUEST_TIMEOUT_S)
    assets = sorted(set(ASSET_URL.findall(first.text)))
    if first.status_code != 200 or not assets:
        raise RuntimeError(f"/status/ answered {first.status_code} without its assets")
    client = KeepAliveClient(base_url, CONNECTIONS)
    try:
        tally = Tally()
        before = ProcessUse.of(pid)
        loop = asyncio.get_running_loop()
        tally.started = loop.time()
        end_at = tally.started + arrival_s + poll_s
        await asyncio.gather(
            *(
                _light_viewer(
                    client, tally, n, tally.started + arrival_s * n / viewers, end_at, poll_s, assets
                )
                for n in range(viewers)
            )
        )
        tally.ended = loop.time()
    finally:
        await client.close()
    after = ProcessUse.of(pid)
    held = not tally.errors and tally.p99 <= P99_LIMIT_S
    return CrowdResult("light page /status/", viewers, tally, before, after, held)


# --- the Streamlit page's crowd ----------------------------------------------------------------


def _rerun() -> bytes:
    message = BackMsg()
    message.rerun_script.query_string = ""
    message.rerun_script.page_script_hash = ""
    return message.SerializeToString()


async def _until_finished(socket: websockets.ClientConnection, deadline: float) -> int:
    """Read the run's messages until its `script_finished`; returns the bytes received."""
    loop = asyncio.get_running_loop()
    received = 0
    while True:
        frame = await asyncio.wait_for(socket.recv(), timeout=max(0.01, deadline - loop.time()))
        received += len(frame)
        if isinstance(frame, bytes):
            message = ForwardMsg()
            message.ParseFromString(frame)
            if message.WhichOneof("type") == "script_finished":
                return received


@dataclass
class _Ramp:
    """The sessions opened in one step: where they record, when to stop, how many have had their
    first run (or failed)."""

    stop_at: float
    tally: Tally
    first_runs: int = 0


async def _streamlit_viewer(base_url: str, ramp: _Ramp, arrive_at: float, poll_s: float) -> None:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, arrive_at - loop.time()))
    if loop.time() >= ramp.stop_at:
        return
    start = time.perf_counter()
    first = True
    stream = base_url.replace("http://", "ws://") + "/_stcore/stream"
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT_S) as client:
            page = await client.get("/")
            page.raise_for_status()
        received = len(page.content)
        async with websockets.connect(
            stream,
            subprotocols=[websockets.Subprotocol("streamlit")],
            origin=websockets.Origin(base_url),
            max_size=None,
            open_timeout=REQUEST_TIMEOUT_S,
        ) as socket:
            while True:
                await socket.send(_rerun())
                received += await _until_finished(socket, loop.time() + REQUEST_TIMEOUT_S)
                ramp.tally.add(time.perf_counter() - start, 200, received)
                if first:
                    ramp.first_runs += 1
                    first = False
                received = 0
                next_at = loop.time() + poll_s
                while loop.time() < next_at:  # idle, as an open tab is, but stop when the ramp does
                    if loop.time() >= ramp.stop_at:
                        return
                    with suppress(TimeoutError):
                        await asyncio.wait_for(
                            socket.recv(), timeout=min(1.0, max(0.01, next_at - loop.time()))
                        )
                start = time.perf_counter()
    except Exception as error:  # a refused socket, a timeout, a closed session: an error
        ramp.tally.fail(time.perf_counter() - start, error)
        if first:
            ramp.first_runs += 1


async def streamlit_crowd(
    base_url: str, pid: int, most: int, step_s: float, poll_s: float, say: object = sys.stderr
) -> tuple[CrowdResult, list[CrowdResult]]:
    """Sessions doubling each step until a step breaks (an error, or p99 over 1 s) or `most` are
    open; returns the largest step that held (or the first when none did) and every step."""
    loop = asyncio.get_running_loop()
    steps: list[CrowdResult] = []
    tasks: list[asyncio.Task[None]] = []
    ramps: list[_Ramp] = []
    size, opened = min(STREAMLIT_FIRST_STEP, most), 0
    # One session first, not counted: the first script run after a start imports and caches what
    # every later run reuses, as the light crowd's first page view does for its bytes.
    warm = _Ramp(stop_at=loop.time() + 1, tally=Tally())
    await _streamlit_viewer(base_url, warm, loop.time(), poll_s)
    if warm.tally.errors:
        raise RuntimeError(f"the Streamlit page did not run: {warm.tally.errors[0]}")
    rss_start = ProcessUse.of(pid).rss_mb  # the sessions' memory is counted from here
    try:
        while True:
            tally = Tally(started=loop.time())
            ramp = _Ramp(stop_at=float("inf"), tally=tally)
            before = ProcessUse.of(pid)
            # Sessions already open carry on in this step's tally: every open tab reloads each poll.
            for earlier in ramps:
                earlier.tally = tally
            new = size - opened
            for n in range(new):
                arrive = tally.started + (step_s / 2) * n / max(new, 1)
                tasks.append(asyncio.create_task(_streamlit_viewer(base_url, ramp, arrive, poll_s)))
            ramps.append(ramp)
            opened = size
            # A step lasts `step_s`, and at least until every new session's first run is over.
            deadline = tally.started + step_s + REQUEST_TIMEOUT_S
            await asyncio.sleep(step_s)
            while ramp.first_runs < new and loop.time() < deadline:
                await asyncio.sleep(0.2)
            tally.ended = loop.time()
            result = CrowdResult(
                "Streamlit page /",
                size,
                tally,
                before,
                ProcessUse.of(pid),
                held=not tally.errors and tally.p99 <= P99_LIMIT_S and bool(tally.latencies),
            )
            steps.append(result)
            print(f"crowd: Streamlit step {result.summary()}", file=say)  # type: ignore[call-overload]
            if not result.held or size >= most:
                break
            size = min(size * 2, most)
    finally:
        for ramp in ramps:
            ramp.stop_at = 0.0
        for task in tasks:  # the crowd is over: close every session now
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    held = [step for step in steps if step.held]
    best = held[-1] if held else steps[0]
    best.rss_start_mb = rss_start
    broke = next((step for step in steps if not step.held), None)
    best.note = (
        f"broke at {broke.viewers:,} sessions: {len(broke.tally.errors)} errors, p99 {broke.tally.p99:.2f} s"
        if broke is not None
        else f"held every step up to {best.viewers:,} sessions"
    )
    return best, steps


# --- the benchmark -----------------------------------------------------------------------------


def _run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a crowd on an event loop of its own thread: a caller may have one running already (a
    test session after Playwright's sync API), where asyncio.run refuses to start."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def bench_crowd(
    viewers: int = CROWD_VIEWERS,
    arrival_seconds: float = CROWD_ARRIVAL_S,
    poll_seconds: float = CROWD_POLL_S,
    streamlit_viewers: int | None = None,
    customers: int = CROWD_CUSTOMERS,
    outages: int = CROWD_OUTAGES,
    seed: int = DEFAULT_SEED,
) -> list[BenchRow]:
    """The light page's crowd, then the Streamlit page's ramp, against one server; figures side by
    side (the light page as the result, the Streamlit page as the baseline)."""
    say = sys.stderr
    most = streamlit_viewers or viewers
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        db = Database(f"sqlite:///{workdir / 'crowd.db'}")
        print(f"crowd: {customers:,} customers, {outages:,} outages", file=say)
        prepare_territory(db, customers, outages, min(CROWD_CREWS, outages), seed)
        db.dispose()
        with crowd_server(db.url, workdir) as (base_url, pid):
            print(
                f"crowd: {viewers:,} viewers on /status/ over {arrival_seconds:g} s, "
                f"polling every {poll_seconds:g} s",
                file=say,
            )
            light = _run(lambda: light_crowd(base_url, pid, viewers, arrival_seconds, poll_seconds))
            print(f"crowd: {light.summary()}", file=say)
            if light.tally.errors:
                print(f"crowd: first errors {light.tally.errors[:3]}", file=say)
            step_s = min(poll_seconds, max(arrival_seconds, 5.0))
            print(
                f"crowd: Streamlit sessions doubling from {STREAMLIT_FIRST_STEP} to at most {most:,}, "
                f"{step_s:g} s a step",
                file=say,
            )
            streamlit, _ = _run(lambda: streamlit_crowd(base_url, pid, most, step_s, poll_seconds))
            print(f"crowd: {streamlit.summary()}", file=say)
    return crowd_rows(light, streamlit)


def crowd_rows(light: CrowdResult, streamlit: CrowdResult) -> list[BenchRow]:
    which = "the most that held p99 <= 1 s without errors" if streamlit.held else "its first step: none held"
    described = (
        f"the Streamlit public page, {streamlit.viewers:,} sessions ({which}; {streamlit.note}), each a "
        "websocket and a script run, again every poll"
    )

    made: list[BenchRow] = []

    def row(
        name: str, ours: float, theirs: float, unit: str, budget: str | None = None, higher: bool = False
    ) -> BenchRow:
        first = not made
        made.append(BenchRow(name, ours, unit))
        return BenchRow(
            name,
            ours,
            unit,
            budget=budget,
            baseline=theirs,
            # The full description once; the later rows point back to it.
            baseline_description=described if first else "the same Streamlit step as [1]",
            higher_is_better=higher,
        )

    lt, st = light.tally, streamlit.tally
    return [
        row(
            "public viewers held (p99 <= 1 s, no errors)",
            light.viewers if light.held else 0,
            streamlit.viewers if streamlit.held else 0,
            "viewers",
            ">= 10,000",
            higher=True,
        ),
        row("requests/s over the crowd", lt.per_second, st.per_second, "req/s", higher=True),
        row("request latency p50", lt.p50, st.p50, "s"),
        row("request latency p99", lt.p99, st.p99, "s", "< 1 s"),
        row(
            "requests answered 304 Not Modified (revalidated by ETag)",
            lt.statuses.get(304, 0),
            st.statuses.get(304, 0),
            "requests",
        ),
        row("errors (HTTP >= 400, refused, timed out)", len(lt.errors), len(st.errors), "requests", "0"),
        row(
            "server CPU per 1,000 viewers (1.0 = one core)",
            light.per_thousand(light.cpu_share),
            streamlit.per_thousand(streamlit.cpu_share),
            "cores",
        ),
        row(
            "server memory per 1,000 viewers (RSS growth over the crowd)",
            light.per_thousand(light.rss_growth_mb),
            streamlit.per_thousand(streamlit.rss_growth_mb),
            "MB",
        ),
        row("server memory at the end (RSS)", light.after.rss_mb, streamlit.after.rss_mb, "MB"),
        row(
            "received per viewer, as sent (gzip)",
            lt.received / max(light.viewers, 1) / 1e6,
            st.received / max(streamlit.viewers, 1) / 1e6,
            "MB",
        ),
    ]
