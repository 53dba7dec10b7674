/*
 * daemon_control.h: colo-arbiterd's handlers for the control socket
 * (status, vm-add, vm-remove, failover, watch) on top of control.c.
 */
#ifndef COLO_ARBITER_DAEMON_CONTROL_H
#define COLO_ARBITER_DAEMON_CONTROL_H

#include <jansson.h>

struct daemon;
struct control_server;

/* NULL when the socket cannot be set up (logged; the daemon runs on). */
struct control_server *daemon_control_start(struct daemon *d);
void daemon_control_stop(struct daemon *d);
/* Streams an event ("STATUS", "AUDIT") to every watcher; steals data. */
void daemon_control_broadcast(struct daemon *d, const char *event, json_t *data);
/* data: compact JSON text, borrowed */
void daemon_control_broadcast_text(struct daemon *d, const char *event, const char *data);

#endif
