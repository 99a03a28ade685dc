"""The fault soak's proxy (benchmarks/faultproxy.py): its schedule, loopback rule and faults."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from benchmarks.faultproxy import FaultPlan, FaultProxy, Refusal, plan_faults, require_loopback


def test_plan_is_fixed_by_its_seed_with_gaps_in_range() -> None:
    """The same seed gives the same cuts, 0.5-3 s apart, none inside a refusal window."""
    refusal = Refusal(at=15.0, seconds=10.0)
    plan = plan_faults(seed=9, fault_seconds=120.0, refusals=[refusal])
    assert plan == plan_faults(seed=9, fault_seconds=120.0, refusals=[refusal])
    assert plan != plan_faults(seed=10, fault_seconds=120.0, refusals=[refusal])
    assert all(not 15.0 <= cut < 25.0 for cut in plan.cuts)
    assert all(0 < cut < 120.0 for cut in plan.cuts)
    # Gaps are 0.5-3 s, except across the refusal window, whose cuts are skipped.
    gaps = [b - a for a, b in zip(plan.cuts, plan.cuts[1:], strict=False) if not a < 15.0 < b]
    assert gaps
    assert all(0.5 - 1e-3 <= gap <= 3.0 + 1e-3 for gap in gaps)


@pytest.mark.parametrize("host", ["10.0.0.1", "192.168.1.5", "0.0.0.0", "example.com"])
def test_only_loopback_addresses_are_accepted(host: str) -> None:
    """Anything but a literal loopback address is refused, for listening and upstream alike."""
    with pytest.raises(ValueError, match="loopback"):
        require_loopback(host)
    assert require_loopback("127.0.0.1") == "127.0.0.1"


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    # The proxy resets this side on a cut: that is the end of the stream here.
    with contextlib.suppress(ConnectionResetError):
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
    writer.close()


async def _read_after_reset(reader: asyncio.StreamReader) -> bytes:
    try:
        # A proxy that failed to cut would leave this read waiting: bound it.
        return await asyncio.wait_for(reader.read(4), timeout=5)
    except ConnectionResetError:
        return b""


async def _cut_and_refuse() -> tuple[bytes, bytes, type[BaseException] | None, bytes]:
    upstream = await asyncio.start_server(_echo, "127.0.0.1", 0)
    upstream_port = upstream.sockets[0].getsockname()[1]
    plan = FaultPlan(cuts=(), refusals=(), fault_seconds=0.0)
    proxy = FaultProxy("127.0.0.1", 0, "127.0.0.1", upstream_port, plan, refuse_mode="unlisten")
    await proxy.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"ping")
    echoed = await reader.read(4)
    proxy.cut_all()
    after_cut = await _read_after_reset(reader)
    refusal = asyncio.create_task(proxy._refuse(0.5))
    await asyncio.sleep(0.1)
    refused: type[BaseException] | None = None
    try:
        await asyncio.open_connection("127.0.0.1", proxy.port)
    except OSError as exc:
        refused = type(exc)
    await refusal
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"pong")
    again = await reader.read(4)
    writer.close()
    await proxy.close()
    upstream.close()
    return echoed, after_cut, refused, again


def test_proxy_forwards_cuts_refuses_and_recovers() -> None:
    """Bytes cross the proxy; a cut ends the stream; a refusal refuses; then it forwards again."""
    echoed, after_cut, refused, again = asyncio.run(_cut_and_refuse())
    assert echoed == b"ping"
    assert after_cut == b""
    assert refused is not None
    assert issubclass(refused, ConnectionRefusedError)
    assert again == b"pong"
