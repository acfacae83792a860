"""cheroot's socket reader, with large reads (request bodies) received straight into place.

cheroot reads sockets through the pure-Python `_pyio.BufferedReader`. For a read of 1 MiB
(the piece in which bodies are read) it asks the socket for up to 1 MiB at a time, and for
each `recv`, which returns a few hundred KiB at most, allocates and zeroes a fresh 1 MiB
buffer, copies what arrived into bytes, then joins and slices the pieces: a profile of a
big PUT showed the request thread spending more time there than writing the file. Here a
large read fills one buffer with `recv_into` until it is complete and copies it once.
Small reads (the request line, headers, chunk sizes) keep cheroot's buffered path.
"""

from __future__ import annotations

from cheroot.makefile import StreamReader

LARGE_READ = 64 * 1024  # reads this big or bigger bypass the 8 KiB read buffer


class SocketReader(StreamReader):
    """`read(n)` as cheroot's: n bytes, fewer only at the end of the stream."""

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < LARGE_READ:
            return super().read(size)  # type: ignore[no-any-return]
        with self._read_lock:  # type: ignore[attr-defined]
            data = self._read_into_place(size)
        self.bytes_read += len(data)
        return data

    def _read_into_place(self, size: int) -> bytes:
        buffered = self._read_buf[self._read_pos :]  # type: ignore[attr-defined]
        self._read_buf, self._read_pos = b"", 0  # type: ignore[attr-defined]
        if len(buffered) >= size:
            self._read_buf = buffered[size:]  # type: ignore[attr-defined]
            return bytes(buffered[:size])
        out = bytearray(size)
        got = len(buffered)
        out[:got] = buffered
        with memoryview(out) as view:
            while got < size:
                received = self.raw.readinto(view[got:])  # type: ignore[attr-defined]
                if not received:  # the end of the stream (or nothing, non-blocking)
                    break
                got += received
            return bytes(view[:got])
