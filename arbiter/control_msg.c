/*
 * control_msg.c: decodes one control request line (see control_msg.h).
 *
 * Everything a client can send goes through here before the daemon's handler
 * sees it, so it must accept any bytes: it never aborts, never keeps state
 * between calls, and bounds what it echoes back (error texts are truncated to
 * the caller's buffer).
 */
#include "control_msg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int fail(char *desc, size_t desc_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *desc, size_t desc_len, const char *fmt, ...)
{
	va_list ap;

	if (desc && desc_len) {
		va_start(ap, fmt);
		vsnprintf(desc, desc_len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool key_allowed(const char *key)
{
	return !strcmp(key, "execute") || !strcmp(key, "arguments") ||
	       !strcmp(key, "id");
}

int control_request_parse(const char *line, size_t len, struct control_request *rq,
			  char *desc, size_t desc_len)
{
	json_error_t jerr;
	json_t *exe, *args, *v;
	const char *key;

	memset(rq, 0, sizeof(*rq));
	if (desc && desc_len)
		desc[0] = '\0';
	rq->req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!rq->req)
		return fail(desc, desc_len,
			    "JSON parse error at line %d, column %d (byte %d): %s",
			    jerr.line, jerr.column, jerr.position, jerr.text);
	if (!json_is_object(rq->req))
		return fail(desc, desc_len, "a request must be a JSON object");
	rq->id = json_object_get(rq->req, "id");
	json_object_foreach(rq->req, key, v) {
		(void)v;
		if (!key_allowed(key))
			return fail(desc, desc_len, "unexpected key '%.64s' in request",
				    key);
	}
	exe = json_object_get(rq->req, "execute");
	if (!json_is_string(exe) || json_string_length(exe) == 0)
		return fail(desc, desc_len, "'execute' must be a non-empty string");
	if (strlen(json_string_value(exe)) != json_string_length(exe))
		return fail(desc, desc_len, "'execute' contains a NUL character");
	args = json_object_get(rq->req, "arguments");
	if (args && !json_is_object(args))
		return fail(desc, desc_len, "'arguments' must be an object");
	rq->args = args ? json_incref(args) : json_object();
	if (!rq->args)
		return -ENOMEM;
	rq->cmd = json_string_value(exe);
	return 0;
}

void control_request_clear(struct control_request *rq)
{
	json_decref(rq->args);
	json_decref(rq->req);
	memset(rq, 0, sizeof(*rq));
}
