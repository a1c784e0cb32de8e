"""free_port: ports a server can bind seconds later, never handed out twice."""

from __future__ import annotations

import socket

import pytest

from benchmarks import harness


def test_ports_are_distinct_bindable_and_outside_the_ephemeral_range() -> None:
    low, high = harness._ephemeral_range()
    ports = [harness.free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    for port in ports:
        assert not low <= port <= high
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((harness.HOST, port))


def two_adjacent_bindable_ports() -> int:
    return next(
        port
        for port in range(harness._LOWEST_PORT, 30000)
        if harness._bindable(port) and harness._bindable(port + 1)
    )


def test_a_port_in_use_or_handed_out_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    first = two_adjacent_bindable_ports()
    # Only `first` and `first + 1` are candidates.
    monkeypatch.setattr(harness, "_LOWEST_PORT", first)
    monkeypatch.setattr(harness, "_ephemeral_range", lambda: (first + 2, 65535))
    monkeypatch.setattr(harness, "_HANDED_OUT", set())
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind((harness.HOST, first))
        listener.listen()
        assert harness.free_port() == first + 1
        with pytest.raises(RuntimeError, match="no free port"):
            harness.free_port()
