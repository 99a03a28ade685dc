"""A TCP proxy on loopback that breaks connections on a seeded random schedule (the fault soak).

It listens on ``127.0.0.1`` and forwards every connection to one upstream port on
``127.0.0.1`` (PostgreSQL's 5432, MariaDB's 3306, Redis's 6379, ...). During its fault window
it does two things to whoever is connected through it:

- **cuts**: every 0.5-3 s (uniformly at random) it resets every live connection, both sides at
  once (``SO_LINGER`` 0, so the peers read a TCP reset, not an orderly end of stream), as a
  dying server, a failover or a NAT dropping state would;
- **refusals**: once (or as configured), it resets every live connection and then refuses new
  ones for N seconds, either by closing its listening socket (``unlisten``: clients read
  "connection refused") or by closing each accepted connection at once (``close``: clients
  read an unexpected end of stream during the handshake), as a server restarting would.

After the fault window it forwards faithfully, and after ``lifetime`` seconds it stops by itself
(nothing it proxies outlives the run that started it). The same seed gives the same schedule.

Only loopback: the proxy refuses any listen or upstream address that is not a loopback one.

Run it on its own (``python -m benchmarks.faultproxy --upstream-port 5432 --seed 1``); it prints
``listening on 127.0.0.1:PORT`` once ready, one JSON line per fault, and a JSON summary at the
end. ``benchmarks/fault_soak.py`` starts it this way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import random
import signal
import socket
import struct
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

#: How many bytes one read moves from one side to the other.
CHUNK = 65536


def require_loopback(host: str) -> str:
    """Return ``host`` if it is a loopback address; raise ValueError for anything else."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{host!r}: only a literal loopback address is allowed") from None
    if not address.is_loopback:
        raise ValueError(f"{host!r} is not a loopback address: the proxy only works on loopback")
    return host


@dataclass(frozen=True)
class Refusal:
    """One window in which the proxy refuses every new connection.

    Attributes:
        at: seconds after the start of the fault window.
        seconds: how long it lasts.
    """

    at: float
    seconds: float


@dataclass(frozen=True)
class FaultPlan:
    """The proxy's whole schedule, fixed by the seed before the first byte moves.

    Attributes:
        cuts: seconds after the start of the fault window at which every live connection is
            reset (none fall inside a refusal, which resets them anyway).
        refusals: the refusal windows.
        fault_seconds: the length of the fault window; afterwards the proxy forwards faithfully.
    """

    cuts: tuple[float, ...]
    refusals: tuple[Refusal, ...]
    fault_seconds: float


def plan_faults(
    seed: int,
    fault_seconds: float,
    refusals: Sequence[Refusal],
    min_gap: float = 0.5,
    max_gap: float = 3.0,
) -> FaultPlan:
    """Draw the cut times: gaps uniform in ``[min_gap, max_gap]``, skipping refusal windows."""
    rng = random.Random(seed)
    cuts: list[float] = []
    moment = rng.uniform(min_gap, max_gap)
    while moment < fault_seconds:
        inside = any(r.at <= moment < r.at + r.seconds for r in refusals)
        if not inside:
            cuts.append(round(moment, 3))
        moment += rng.uniform(min_gap, max_gap)
    return FaultPlan(tuple(cuts), tuple(refusals), fault_seconds)


@dataclass
class ProxyCounts:
    """What the proxy did, for the soak's report.

    Attributes:
        accepted: connections accepted and forwarded.
        refused: connection attempts refused (``close`` mode only; ``unlisten`` refusals are
            never seen by the proxy).
        cuts: cut events that ran.
        connections_cut: live connections reset by cuts and by the start of refusals.
        refusal_seconds: the refusal windows actually applied.
        bytes_up: bytes forwarded from the clients to the upstream.
        bytes_down: bytes forwarded from the upstream to the clients.
    """

    accepted: int = 0
    refused: int = 0
    cuts: int = 0
    connections_cut: int = 0
    refusal_seconds: list[float] = field(default_factory=list)
    bytes_up: int = 0
    bytes_down: int = 0


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close ``writer``'s socket with a TCP reset (SO_LINGER 0), dropping unsent data."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """The proxy: forwards ``listen`` to ``upstream`` and applies a ``FaultPlan``.

    Attributes:
        counts: what it did so far.
        port: the port it listens on (known once started).
    """

    def __init__(
        self,
        listen_host: str,
        listen_port: int,
        upstream_host: str,
        upstream_port: int,
        plan: FaultPlan,
        refuse_mode: str = "unlisten",
        log: Any = None,
    ) -> None:
        self._listen_host = require_loopback(listen_host)
        self._upstream = (require_loopback(upstream_host), upstream_port)
        if refuse_mode not in ("unlisten", "close"):
            raise ValueError(f"refuse_mode: {refuse_mode!r} is neither 'unlisten' nor 'close'")
        self._plan = plan
        self._refuse_mode = refuse_mode
        self._log = log
        self.port = listen_port
        self.counts = ProxyCounts()
        self._server: asyncio.Server | None = None
        self._refusing = False
        # Each live connection as its two writers (client side, upstream side).
        self._live: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._started = 0.0

    def _note(self, event: str, **details: Any) -> None:
        if self._log is not None:
            line = {"t": round(time.monotonic() - self._started, 3), "event": event, **details}
            self._log.write(json.dumps(line) + "\n")
            self._log.flush()

    async def start(self) -> None:
        """Start listening (``port`` 0 picks a free one, then ``port`` holds it)."""
        self._started = time.monotonic()
        await self._listen()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self._listen_host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _unlisten(self) -> None:
        if self._server is not None:
            # close() frees the port at once; wait_closed() would also wait (Python 3.12+) for
            # every connection ever accepted, which the refusal has just reset anyway.
            self._server.close()
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._refusing:
            self.counts.refused += 1
            _reset(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError as exc:
            self._note("upstream-unreachable", error=repr(exc))
            _reset(writer)
            return
        self.counts.accepted += 1
        pair = (writer, up_writer)
        self._live.add(pair)
        try:
            await asyncio.gather(
                self._pump(reader, up_writer, up=True),
                self._pump(up_reader, writer, up=False),
            )
        finally:
            self._live.discard(pair)
            for side in pair:
                side.transport.abort()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, up: bool
    ) -> None:
        try:
            while data := await reader.read(CHUNK):
                writer.write(data)
                if up:
                    self.counts.bytes_up += len(data)
                else:
                    self.counts.bytes_down += len(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            # One side ended: end the other too (a half-open proxy would hide the failure).
            writer.transport.abort()

    def cut_all(self) -> int:
        """Reset every live connection, both sides; return how many there were."""
        pairs = list(self._live)
        for client, upstream in pairs:
            _reset(client)
            _reset(upstream)
        self._live.clear()
        self.counts.connections_cut += len(pairs)
        return len(pairs)

    async def _refuse(self, seconds: float) -> None:
        self._refusing = True
        cut = self.cut_all()
        if self._refuse_mode == "unlisten":
            await self._unlisten()
        self._note("refuse", seconds=seconds, connections=cut, mode=self._refuse_mode)
        self.counts.refusal_seconds.append(seconds)
        await asyncio.sleep(seconds)
        if self._refuse_mode == "unlisten":
            await self._listen()
        self._refusing = False
        self._note("accept-again")

    async def run_faults(self, begin_after: asyncio.Event | None = None) -> None:
        """Apply the plan (once ``begin_after`` is set, if given), then forward faithfully."""
        if begin_after is not None:
            await begin_after.wait()
        self._note("faults-begin", planned_cuts=len(self._plan.cuts))
        events: list[tuple[float, str, float]] = [(t, "cut", 0.0) for t in self._plan.cuts]
        events += [(r.at, "refuse", r.seconds) for r in self._plan.refusals]
        events.sort()
        begin = time.monotonic()
        for at, kind, seconds in events:
            delay = begin + at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if kind == "cut":
                self.counts.cuts += 1
                self._note("cut", connections=self.cut_all())
            else:
                await self._refuse(seconds)
        self._note("faults-over")

    async def close(self) -> None:
        """Stop listening and end every live connection."""
        await self._unlisten()
        self.cut_all()
        # Let the connection handlers see their streams end before the loop goes away.
        await asyncio.sleep(0.2)


async def serve(
    proxy: FaultProxy,
    lifetime: float,
    ready: Any = None,
    stop: asyncio.Event | None = None,
    begin_faults: asyncio.Event | None = None,
) -> ProxyCounts:
    """Run ``proxy`` until ``lifetime`` s pass or ``stop`` is set; faults after ``begin_faults``."""
    await proxy.start()
    if ready is not None:
        ready(proxy.port)
    stop = stop or asyncio.Event()
    faults = asyncio.create_task(proxy.run_faults(begin_faults))
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=lifetime)
    faults.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await faults
    await proxy.close()
    return proxy.counts


def _parse_refusal(text: str) -> Refusal:
    at, _, seconds = text.partition(":")
    return Refusal(float(at), float(seconds))


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run one proxy until its lifetime ends or it gets SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen-host", default="127.0.0.1")
    parser.add_argument("--listen-port", type=int, default=0, help="0: any free port")
    parser.add_argument("--upstream-host", default="127.0.0.1")
    parser.add_argument("--upstream-port", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fault-seconds", type=float, default=60.0, help="length of faults")
    parser.add_argument("--min-gap", type=float, default=0.5, help="shortest gap between cuts")
    parser.add_argument("--max-gap", type=float, default=3.0, help="longest gap between cuts")
    parser.add_argument(
        "--refuse",
        type=_parse_refusal,
        action="append",
        default=[],
        metavar="AT:SECONDS",
        help="refuse connections for SECONDS, AT seconds into the faults (repeatable)",
    )
    parser.add_argument("--refuse-mode", choices=("unlisten", "close"), default="unlisten")
    parser.add_argument("--no-cuts", action="store_true", help="no random cuts")
    parser.add_argument(
        "--cut-at",
        type=float,
        action="append",
        default=[],
        metavar="SECONDS",
        help="also cut every connection SECONDS into the faults (repeatable)",
    )
    parser.add_argument(
        "--faults-on-signal",
        action="store_true",
        help="start the fault window at SIGUSR1 instead of at once",
    )
    parser.add_argument("--lifetime", type=float, default=600.0, help="stop after this many s")
    args = parser.parse_args(argv)
    plan = plan_faults(args.seed, args.fault_seconds, args.refuse, args.min_gap, args.max_gap)
    cuts = sorted((set() if args.no_cuts else {*plan.cuts}) | {*args.cut_at})
    plan = FaultPlan(tuple(cuts), plan.refusals, plan.fault_seconds)
    proxy = FaultProxy(
        args.listen_host,
        args.listen_port,
        args.upstream_host,
        args.upstream_port,
        plan,
        refuse_mode=args.refuse_mode,
        log=sys.stdout,
    )

    async def run() -> ProxyCounts:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        begin: asyncio.Event | None = None
        if args.faults_on_signal:
            begin = asyncio.Event()
            loop.add_signal_handler(signal.SIGUSR1, begin.set)

        def ready(port: int) -> None:
            sys.stdout.write(f"listening on {args.listen_host}:{port}\n")
            sys.stdout.flush()

        return await serve(proxy, args.lifetime, ready=ready, stop=stop, begin_faults=begin)

    counts = asyncio.run(run())
    summary = {"event": "summary", "planned_cuts": len(plan.cuts), **counts.__dict__}
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
