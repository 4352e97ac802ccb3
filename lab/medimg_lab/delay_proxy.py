"""A small TCP proxy that adds latency: every chunk is forwarded `delay` seconds after it arrived.

With --delay-ms 10 each direction is delayed by 10 ms, so a request/answer round trip costs
20 ms more, roughly a WAN link between sites. The delay is per chunk but chunks are pipelined
(a chunk is not held back by the one before it beyond its own due time), so bandwidth is not
throttled, only latency is added - like a long link, not a slow one.

    python -m medimg_lab.delay_proxy --listen 127.0.0.1:18042 --target 127.0.0.1:8042 --delay-ms 10

Or from Python: ``proxy = DelayProxy(target_host, target_port, delay_s).start()`` runs it in a
background thread on a free loopback port (``proxy.port``); ``proxy.stop()`` ends it.
Only loopback targets are meant (tests and benchmarks).
"""
import argparse
import asyncio
import threading
import time


async def _pipe(reader, writer, delay):
    """Forward reader -> writer, each chunk `delay` seconds after it was read (order kept)."""
    queue = asyncio.Queue()

    async def pump_in():
        try:
            while True:
                data = await reader.read(65536)
                queue.put_nowait((time.monotonic() + delay, data))
                if not data:
                    return
        except (ConnectionError, OSError):
            queue.put_nowait((time.monotonic(), b""))

    async def pump_out():
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                try:
                    if writer.can_write_eof():
                        writer.write_eof()
                except (OSError, RuntimeError):
                    pass
                return
            writer.write(data)
            try:
                await writer.drain()
            except (ConnectionError, OSError):
                return

    reader_task = asyncio.ensure_future(pump_in())
    try:
        await pump_out()
    except asyncio.CancelledError:
        pass
    finally:
        reader_task.cancel()


class DelayProxy:
    """Latency-adding TCP proxy on 127.0.0.1 (a free port unless given), in a daemon thread."""

    def __init__(self, target_host, target_port, delay_s=0.01, listen_host="127.0.0.1", listen_port=0):
        self.target = (target_host, int(target_port))
        self.delay = float(delay_s)
        self.listen = (listen_host, int(listen_port))
        self.port = None
        self.loop = None
        self.server = None
        self.thread = None
        self.connections = 0
        self._ready = threading.Event()
        self._error = None

    async def _handle(self, client_reader, client_writer):
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        try:
            await asyncio.gather(_pipe(client_reader, up_writer, self.delay),
                                 _pipe(up_reader, client_writer, self.delay))
        except asyncio.CancelledError:
            pass
        finally:
            for w in (up_writer, client_writer):
                try:
                    w.close()
                except (OSError, RuntimeError):
                    pass

    async def _serve(self):
        self.server = await asyncio.start_server(self._handle, *self.listen)
        self.port = self.server.sockets[0].getsockname()[1]
        self._ready.set()
        async with self.server:
            await self.server.serve_forever()

    def _run(self):
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()
        finally:
            # let the cancelled connection tasks finish before the loop goes away (no noise)
            pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()

    def start(self, timeout=10):
        self.thread = threading.Thread(target=self._run, name="delay-proxy", daemon=True)
        self.thread.start()
        if not self._ready.wait(timeout) or self._error:
            raise RuntimeError("delay proxy did not start: %s" % (self._error,))
        return self

    def stop(self, timeout=10):
        if self.loop is not None and self.server is not None:
            def _close():
                self.server.close()
                for task in asyncio.all_tasks(self.loop):
                    task.cancel()
            self.loop.call_soon_threadsafe(_close)
        if self.thread is not None:
            self.thread.join(timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT to listen on")
    parser.add_argument("--target", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--delay-ms", type=float, default=10.0, help="one-way delay per chunk (ms)")
    args = parser.parse_args()
    lhost, lport = args.listen.rsplit(":", 1)
    thost, tport = args.target.rsplit(":", 1)
    proxy = DelayProxy(thost, int(tport), args.delay_ms / 1000.0, lhost, int(lport)).start()
    print("delay proxy 127.0.0.1:%d -> %s, +%.1f ms each way" % (proxy.port, args.target, args.delay_ms),
          flush=True)
    try:
        proxy.thread.join()
    except KeyboardInterrupt:
        proxy.stop()


if __name__ == "__main__":
    main()
