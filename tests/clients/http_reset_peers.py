"""An HTTP server whose clients reset the connection mid-answer.

server PORT N: answer N requests; each answer's status line goes out, then,
  after the client has reset the connection, the body: that write fails,
  and the server closes without reading again. Prints one JSON line:
  {"answers": N, "failed_writes": K}.
client PORT N: N times: connect, send a request, read a few bytes of the
  answer, close with SO_LINGER 0 (a reset, the rest unread).
"""
import json
import socket
import struct
import sys
import time


def server(port, n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(8)
    print("listening", flush=True)
    failed = 0
    for _ in range(n):
        c, _ = s.accept()
        c.recv(4096)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
        time.sleep(0.3)
        try:
            c.sendall(b"hello")
        except OSError:
            failed += 1
        c.close()
    print(json.dumps({"answers": n, "failed_writes": failed}), flush=True)


def client(port, n):
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        c.sendall(b"GET /items/1 HTTP/1.1\r\nHost: test\r\n\r\n")
        c.recv(20)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        time.sleep(0.1)


if __name__ == "__main__":
    {"server": server, "client": client}[sys.argv[1]](int(sys.argv[2]), int(sys.argv[3]))
