/*
 * epoch_record.h: one VM's persisted fsm state (struct fsm_persist) as the
 * line the epoch log keeps (epoch_log.h), and back.
 *
 * The line is one compact JSON object whose first member is "vm", so that
 * the log finds a record's VM without parsing it:
 *   {"vm":NAME,"version":1,"epoch":E,"acked":B,"acked_prop":{"from_n":N,
 *    "proposer":ID,"to":E},"frozen_n":N,"frozen":B,"frozen_inst":I,
 *    "named":B,"named_inst":I,"named_n":N[,"broke_inst":I]}
 *   E = {"n":N,"kind":K,"holder":ID,"hinst":I,"secondary":ID,"sinst":I}
 *   I = {"pid":PID,"start":T}
 * Written as text: the bytes a jansson tree of those members, in that order,
 * dumped with JSON_COMPACT gives (what earlier versions wrote); read with
 * jansson.  Pure.
 */
#ifndef COLO_ARBITER_EPOCH_RECORD_H
#define COLO_ARBITER_EPOCH_RECORD_H

#include "fsm.h"

#include <jansson.h>
#include <stddef.h>

/* The record's line, without a newline (the caller frees it; *len its
 * length), or NULL: out of memory, or a VM name the epoch log cannot key
 * (the config refuses those). */
char *epoch_record_text(const struct fsm_persist *r, size_t *len);

/* A parsed line back into *r: 0, or -EINVAL for a missing or mistyped
 * member (r zeroed first). */
int epoch_record_from_json(json_t *o, struct fsm_persist *r);

#endif
