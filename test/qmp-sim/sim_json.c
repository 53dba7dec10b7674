/*
 * sim_json.c: qmp-sim's own tiny JSON stream handling: splits a byte stream
 * into top-level JSON texts the way QEMU's streamer does (by nesting depth,
 * not by lines), buffers output, and prints JSON with QEMU's separators.
 * Independent from the arbiter's framer on purpose; no clock, no sockets
 * other than the fd it is handed to flush.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim.h"

int sim_framer_feed(struct sim_framer *f, const char *data, size_t len)
{
	if (f->len + len > SIM_MAX_LINE + 4096)
		return -E2BIG;
	if (f->len + len + 1 > f->cap) {
		size_t cap = f->cap ? f->cap : 4096;
		char *nb;

		while (cap < f->len + len + 1)
			cap *= 2;
		nb = realloc(f->buf, cap);
		if (!nb)
			return -ENOMEM;
		f->buf = nb;
		f->cap = cap;
	}
	memcpy(f->buf + f->len, data, len);
	f->len += len;
	f->buf[f->len] = '\0';
	return 0;
}

static int framer_emit(struct sim_framer *f, size_t end, char **out,
		       size_t *outlen)
{
	size_t n = end - f->start;
	char *s = malloc(n + 1);

	if (!s)
		return -ENOMEM;
	memcpy(s, f->buf + f->start, n);
	s[n] = '\0';
	memmove(f->buf, f->buf + end, f->len - end);
	f->len -= end;
	f->buf[f->len] = '\0';
	f->scan = 0;
	f->start = 0;
	f->depth = 0;
	f->in_scalar = false;
	*out = s;
	*outlen = n;
	return 1;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int sim_framer_next(struct sim_framer *f, char **out, size_t *outlen)
{
	while (f->scan < f->len) {
		char c = f->buf[f->scan];

		if (f->depth == 0 && !f->in_scalar) {
			if (is_ws(c)) {
				f->scan++;
				f->start = f->scan;
				continue;
			}
			f->start = f->scan;
			if (c == '{' || c == '[') {
				f->depth = 1;
				f->in_str = f->esc = false;
				f->scan++;
				continue;
			}
			f->in_scalar = true;
			f->in_str = (c == '"');
			f->esc = false;
			f->scan++;
			continue;
		}
		if (f->in_scalar) {
			if (f->in_str) {
				if (f->esc)
					f->esc = false;
				else if (c == '\\')
					f->esc = true;
				else if (c == '"')
					f->in_str = false;
				else if (c == '\n')
					return framer_emit(f, f->scan, out,
							   outlen);
				f->scan++;
				continue;
			}
			if (is_ws(c) || c == '{' || c == '[')
				return framer_emit(f, f->scan, out, outlen);
			f->scan++;
			continue;
		}
		/* inside an object or array */
		f->scan++;
		if (f->in_str) {
			if (f->esc)
				f->esc = false;
			else if (c == '\\')
				f->esc = true;
			else if (c == '"')
				f->in_str = false;
			continue;
		}
		if (c == '"')
			f->in_str = true;
		else if (c == '{' || c == '[')
			f->depth++;
		else if ((c == '}' || c == ']') && --f->depth == 0)
			return framer_emit(f, f->scan, out, outlen);
	}
	if (f->len - f->start > SIM_MAX_LINE)
		return -E2BIG;
	return 0;
}

void sim_framer_free(struct sim_framer *f)
{
	free(f->buf);
	memset(f, 0, sizeof(*f));
}

int sim_outbuf_add(struct sim_outbuf *o, const char *data, size_t len)
{
	if (o->off && o->off == o->len) {
		o->off = o->len = 0;
	}
	if (o->len - o->off + len > SIM_MAX_OUT)
		return -ENOBUFS;
	if (o->len + len > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		char *nb;

		if (o->off) {
			memmove(o->buf, o->buf + o->off, o->len - o->off);
			o->len -= o->off;
			o->off = 0;
		}
		while (cap < o->len + len)
			cap *= 2;
		nb = realloc(o->buf, cap);
		if (!nb)
			return -ENOMEM;
		o->buf = nb;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, data, len);
	o->len += len;
	return 0;
}

int sim_outbuf_flush(struct sim_outbuf *o, int fd)
{
	while (o->off < o->len) {
		ssize_t n = write(fd, o->buf + o->off, o->len - o->off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		o->off += (size_t)n;
	}
	o->off = o->len = 0;
	return 0;
}

void sim_outbuf_free(struct sim_outbuf *o)
{
	free(o->buf);
	memset(o, 0, sizeof(*o));
}

char *sim_json_dump(const json_t *j)
{
	/* no indent and not compact gives ", " and ": " like QEMU */
	return json_dumps(j, JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
}
