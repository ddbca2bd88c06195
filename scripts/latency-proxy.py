#!/usr/bin/env python3
"""A TCP proxy on loopback that adds a fixed delay before each request reaches the server,
so that a local S3 gateway answers like a remote one (bench only: recovery through
archive-get with and without prefetch). TLS passes through untouched.

    scripts/latency-proxy.py LISTEN_PORT UPSTREAM_PORT DELAY_MS
"""
import asyncio
import sys


async def pipe(reader, writer, delay):
    try:
        while True:
            data = await reader.read(1 << 16)
            if not data:
                break
            # A request (client to server) after a pause in the conversation waits one
            # round trip: what a client far from the store sees per request.
            if delay and len(data) < (1 << 16):
                await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def main():
    listen, upstream, delay_ms = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])

    async def handle(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", upstream)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, server_writer, delay_ms / 1000),
                             pipe(server_reader, client_writer, 0))

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


asyncio.run(main())
