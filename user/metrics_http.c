// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "mono_clock.h"
#include "metrics_http.h"
#include "export_formats.h"

#define MAX_CLIENTS 16
#define REQ_MAX 4096		/* request line and headers */
#define CLIENT_TIMEOUT_NS 5000000000ull
#define ACCEPTS_PER_POLL 32

struct client {
	int fd;			/* -1: free slot */
	uint64_t deadline;
	char req[REQ_MAX];
	size_t reqlen;
	char *resp;		/* once the request is complete */
	size_t resplen, sent;
};

static int lfd = -1;
static struct client clients[MAX_CLIENTS];

static int is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return 0;
}

/* Splits ADDR into host and port (host "" when absent). */
static int split_addr(const char *addr, char *host, size_t hn, char *port, size_t pn)
{
	const char *colon;

	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');

		if (!end || end[1] != ':' || (size_t)(end - addr - 1) >= hn)
			return -1;
		snprintf(host, hn, "%.*s", (int)(end - addr - 1), addr + 1);
		colon = end + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon) {
			host[0] = 0;
			colon = addr - 1;
		} else if (strchr(addr, ':') != colon || (size_t)(colon - addr) >= hn) {
			return -1;	/* a bare IPv6 address needs brackets */
		} else {
			snprintf(host, hn, "%.*s", (int)(colon - addr), addr);
		}
	}
	if (!colon[1] || strlen(colon + 1) >= pn || strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return -1;
	snprintf(port, pn, "%s", colon + 1);
	return 0;
}

int metrics_listen(const char *addr)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *ai = NULL;
	char host[256], port[16];
	int one = 1, rc, i;

	if (split_addr(addr, host, sizeof(host), port, sizeof(port)) || atoi(port) < 1 || atoi(port) > 65535) {
		fprintf(stderr, "dblat: --listen %s: expected HOST:PORT, [IPV6]:PORT or PORT\n", addr);
		return -1;
	}
	rc = getaddrinfo(host[0] ? host : "127.0.0.1", port, &hints, &ai);
	if (rc) {
		fprintf(stderr, "dblat: --listen %s: %s\n", addr, gai_strerror(rc));
		return -1;
	}
	if (!is_loopback(ai->ai_addr))
		fprintf(stderr, "dblat: note: serving /metrics on non-loopback address %s: whoever reaches it sees statement texts\n",
			addr);
	lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, ai->ai_addr, ai->ai_addrlen) || listen(lfd, 64)) {
		fprintf(stderr, "dblat: cannot listen on %s: %s\n", addr, strerror(errno));
		if (lfd >= 0)
			close(lfd);
		lfd = -1;
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	for (i = 0; i < MAX_CLIENTS; i++)
		clients[i].fd = -1;
	fprintf(stderr, "dblat: serving metrics at http://%s%s%s:%s/metrics\n", strchr(host, ':') ? "[" : "",
		host[0] ? host : "127.0.0.1", strchr(host, ':') ? "]" : "", port);
	return 0;
}

static char *answer(int code, const char *reason, const char *ctype, const char *body, size_t blen,
		    int head, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	if (!f)
		return NULL;
	fprintf(f, "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
		code, reason, ctype, blen);
	if (!head && blen)
		fwrite(body, 1, blen, f);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

char *metrics_response(const char *req, const struct summary *s, size_t *len)
{
	char method[16], target[1024], *body = NULL, *resp;
	size_t blen = 0, plen;
	int head;
	FILE *f;

	if (sscanf(req, "%15s %1023s", method, target) != 2)
		return answer(400, "Bad Request", "text/plain", "bad request\n", 12, 0, len);
	head = !strcmp(method, "HEAD");
	if (strcmp(method, "GET") && !head)
		return answer(405, "Method Not Allowed", "text/plain", "GET only\n", 9, 0, len);
	plen = strcspn(target, "?#");
	if (plen == 1 && target[0] == '/')
		return answer(200, "OK", "text/plain", "dblat: metrics at /metrics\n", 27, head, len);
	if (plen != 8 || strncmp(target, "/metrics", 8))
		return answer(404, "Not Found", "text/plain", "not found\n", 10, head, len);
	f = open_memstream(&body, &blen);
	if (!f)
		return NULL;
	prom_write(f, s);
	if (fclose(f)) {
		free(body);
		return NULL;
	}
	resp = answer(200, "OK", "text/plain; version=0.0.4; charset=utf-8", body, blen, head, len);
	free(body);
	return resp;
}

static void drop(struct client *c)
{
	close(c->fd);
	free(c->resp);
	c->fd = -1;
	c->resp = NULL;
	c->reqlen = c->resplen = c->sent = 0;
}

static int request_complete(const struct client *c)
{
	return memmem(c->req, c->reqlen, "\r\n\r\n", 4) || memmem(c->req, c->reqlen, "\n\n", 2);
}

static void serve(struct client *c, const struct summary *s, uint64_t now)
{
	ssize_t n;

	while (!c->resp) {
		n = recv(c->fd, c->req + c->reqlen, sizeof(c->req) - 1 - c->reqlen, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			break;
		if (n <= 0) {
			drop(c);
			return;
		}
		c->reqlen += n;
		c->req[c->reqlen] = 0;
		if (request_complete(c)) {
			c->resp = metrics_response(c->req, s, &c->resplen);
		} else if (c->reqlen == sizeof(c->req) - 1) {
			c->resp = answer(431, "Request Header Fields Too Large", "text/plain", "too large\n", 10, 0,
					 &c->resplen);
		} else {
			continue;
		}
		if (!c->resp) {
			drop(c);
			return;
		}
	}
	while (c->resp && c->sent < c->resplen) {
		n = send(c->fd, c->resp + c->sent, c->resplen - c->sent, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			break;
		if (n <= 0) {
			drop(c);
			return;
		}
		c->sent += n;
	}
	if (c->resp && c->sent == c->resplen) {
		shutdown(c->fd, SHUT_WR);
		drop(c);
	} else if (now > c->deadline) {
		drop(c);
	}
}

void metrics_serve(const struct summary *s)
{
	uint64_t now;
	int i, k, fd;

	if (lfd < 0)
		return;
	now = mono_ns();
	for (k = 0; k < ACCEPTS_PER_POLL; k++) {
		for (i = 0; i < MAX_CLIENTS && clients[i].fd >= 0; i++)
			;
		if (i == MAX_CLIENTS)
			break;	/* the rest wait in the backlog */
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			break;
		clients[i].fd = fd;
		clients[i].deadline = now + CLIENT_TIMEOUT_NS;
		clients[i].reqlen = 0;
	}
	for (i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0)
			serve(&clients[i], s, now);
}

void metrics_close(void)
{
	int i;

	if (lfd < 0)
		return;
	for (i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0)
			drop(&clients[i]);
	close(lfd);
	lfd = -1;
}
