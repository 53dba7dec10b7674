/*
 * control_msg.h: the request decoder of the control protocol (control.h), as
 * a pure function so it can be fuzzed and tested without a socket.
 *
 * One line (without its "\n") in; either a request whose shape is valid
 * (an object with only "execute", "arguments", "id"; "execute" a non-empty
 * string without NUL; "arguments" an object, {} when absent) or an error
 * text saying what is wrong and where.  No I/O, no logging, no globals.
 */
#ifndef COLO_ARBITER_CONTROL_MSG_H
#define COLO_ARBITER_CONTROL_MSG_H

#include <jansson.h>
#include <stddef.h>

struct control_request {
	json_t *req;     /* the whole request; owns what the others borrow */
	const char *cmd; /* borrowed from req */
	json_t *args;    /* own reference: req's "arguments" or a new {} */
	json_t *id;      /* borrowed from req, NULL when absent */
};

/*
 * 0 with *rq filled, or -EINVAL with desc set (and rq->id set when the line
 * was an object with an "id", so the error reply can echo it: the caller
 * still calls control_request_clear), or -ENOMEM.
 */
int control_request_parse(const char *line, size_t len, struct control_request *rq,
			  char *desc, size_t desc_len);
void control_request_clear(struct control_request *rq);

#endif
