/*
 * status_render.h: the human text of colo-arbiterctl: the "status" return
 * (an operator's summary) and one line per "watch" event.
 *
 * Pure: jansson only; no I/O, no clock (the current time is an argument),
 * no logging. The input comes from the daemon and is never trusted: a
 * missing field or one of the wrong type is rendered as "?" rather than
 * refused, so an older or newer daemon still gives a readable summary.
 *
 * Input shapes (control.h protocol):
 *   status: {"node":{"id","name"},"cluster":{"quorate","ring_id",
 *            "quorum_ring_id","members","gate","gate_reason","ipc":{"cpg",
 *            "quorum"},"fence_policy","no_quorum"},"vms":[{"name","role",
 *            "peer_node","epoch":{"n","kind","holder","secondary"},"status",
 *            "why","where","protected","local":{...},"peer":{...},
 *            "last_decision":{audit record: "rule","decision","event",
 *            "wall_ms",...}}]}
 *   event:  {"event":"STATUS","data":{"vm","status","where","why"},
 *            "timestamp":{"seconds","microseconds"}}
 *           {"event":"STATUS","data":{a whole status snapshot},...}
 *           (one line: gate, quorum, then each VM's status)
 *           {"event":"AUDIT","data":{audit record},"timestamp":{...}}
 *           any other event: its name and its data as compact JSON.
 */
#ifndef COLO_ARBITER_STATUS_RENDER_H
#define COLO_ARBITER_STATUS_RENDER_H

#include <jansson.h>
#include <stdint.h>

/*
 * Renders the status return as text (several lines, each ending in "\n").
 * now_wall_ms is the caller's current wall-clock time in ms since the epoch,
 * used to say how long ago the last decision was; 0 leaves the age out.
 * Times are printed in UTC. Returns 0 and a malloc'd string in *out, or
 * -EINVAL (status is not an object) or -ENOMEM.
 */
int status_render(const json_t *status, int64_t now_wall_ms, char **out);

/* Renders one event message as one line ending in "\n". 0, -EINVAL (not an
 * event message), -ENOMEM. */
int status_render_event(const json_t *msg, char **out);

#endif
