/*
 * fsm_str.c: names of the fsm enums for logs, audit records and status.
 * Pure: no I/O, no allocation.
 */
#include "fsm.h"

const char *fsm_mechanism_to_str(enum fsm_mechanism m)
{
	switch (m) {
	case FSM_MECH_QUORUM_GATE: return "quorum_gate";
	case FSM_MECH_RING_ID_AGREEMENT: return "ring_id_agreement";
	case FSM_MECH_FENCE_WAIT: return "fence_wait";
	case FSM_MECH_PROCDOWN_GUARD: return "procdown_guard";
	case FSM_MECH_OWN_LIVENESS: return "own_liveness";
	case FSM_MECH_EPOCH_CAS: return "epoch_cas";
	case FSM_MECH_ELIGIBILITY: return "eligibility";
	case FSM_MECH_FREEZE_CONFIRM: return "freeze_confirm";
	case FSM_MECH_YANK_FIRST: return "yank_first";
	case FSM_MECH_BARRIER: return "barrier";
	case FSM_MECH_LEVEL_TRIGGERED_LOSS: return "level_triggered_loss";
	case FSM_MECH_FENCE_PROOF_AGE: return "fence_proof_age";
	case FSM_MECH_FENCE_INCARNATION: return "fence_incarnation";
	case FSM_MECH_ACTION_TAGS: return "action_tags";
	case FSM_MECH_FREEZE_SOLO_ONLY: return "freeze_solo_only";
	case FSM_MECH_TWO_NODE: return "two_node";
	case FSM_MECH_STALE_KILL: return "stale_kill";
	case FSM_MECH_PERSIST_BEFORE_ACK: return "persist_before_ack";
	case FSM_MECH_FROZEN_GUARD: return "frozen_guard";
	case FSM_MECH_ARB_TIMEOUT: return "arb_timeout";
	case FSM_MECH_RESUME: return "resume";
	case FSM_MECH_PERIODIC_STATE: return "periodic_state";
	}
	return "?";
}

const char *fsm_epoch_kind_to_str(enum fsm_epoch_kind k)
{
	switch (k) {
	case FSM_EPOCH_NONE: return "NONE";
	case FSM_EPOCH_COLO: return "COLO";
	case FSM_EPOCH_SOLO: return "SOLO";
	}
	return "?";
}

const char *fsm_colo_mode_to_str(enum fsm_colo_mode m)
{
	switch (m) {
	case FSM_MODE_UNKNOWN: return "unknown";
	case FSM_MODE_NONE: return "none";
	case FSM_MODE_PRIMARY: return "primary";
	case FSM_MODE_SECONDARY: return "secondary";
	}
	return "?";
}

const char *fsm_colo_reason_to_str(enum fsm_colo_reason r)
{
	switch (r) {
	case FSM_REASON_NONE: return "none";
	case FSM_REASON_REQUEST: return "request";
	case FSM_REASON_ERROR: return "error";
	case FSM_REASON_PROCESSING: return "processing";
	}
	return "?";
}

const char *fsm_msg_kind_to_str(enum fsm_msg_kind k)
{
	switch (k) {
	case FSM_MSG_LIVENESS: return "LIVENESS";
	case FSM_MSG_STATE: return "STATE";
	case FSM_MSG_SYNC_DONE: return "SYNC_DONE";
	case FSM_MSG_PROPOSE: return "PROPOSE";
	case FSM_MSG_ACK: return "ACK";
	case FSM_MSG_NACK: return "NACK";
	case FSM_MSG_FENCING: return "FENCING";
	}
	return "?";
}

const char *fsm_qmp_cmd_to_str(enum fsm_qmp_cmd c)
{
	switch (c) {
	case FSM_QMP_YANK: return "yank";
	case FSM_QMP_PRE: return "pre";
	case FSM_QMP_LOST_HEARTBEAT: return "x-colo-lost-heartbeat";
	case FSM_QMP_POST: return "post";
	case FSM_QMP_QUERY_COLO_STATUS: return "query-colo-status";
	case FSM_QMP_QUERY_STATUS: return "query-status";
	case FSM_QMP_QUERY_MIGRATE: return "query-migrate";
	case FSM_QMP_CONT: return "cont";
	case FSM_QMP_STOP: return "stop";
	case FSM_QMP_QUIT: return "quit";
	}
	return "?";
}

const char *fsm_event_kind_to_str(enum fsm_event_kind k)
{
	switch (k) {
	case FSM_EV_START: return "start";
	case FSM_EV_CPG_CONFCHG: return "cpg_confchg";
	case FSM_EV_TOTEM_CONFCHG: return "totem_confchg";
	case FSM_EV_QUORUM: return "quorum";
	case FSM_EV_IPC: return "ipc";
	case FSM_EV_PEER_MSG: return "peer_msg";
	case FSM_EV_QMP_CONNECTED: return "qmp_connected";
	case FSM_EV_QMP_LOST: return "qmp_lost";
	case FSM_EV_QMP_COLO_EXIT: return "colo_exit";
	case FSM_EV_QMP_COLO_STATUS: return "query_colo_status";
	case FSM_EV_QMP_STATUS: return "query_status";
	case FSM_EV_QMP_MIGRATE: return "query_migrate";
	case FSM_EV_QMP_RESUME: return "resume_event";
	case FSM_EV_QMP_STOP: return "stop_event";
	case FSM_EV_QMP_YANK_SET: return "yank_set";
	case FSM_EV_QMP_RESULT: return "qmp_result";
	case FSM_EV_QEMU_EXITED: return "qemu_exited";
	case FSM_EV_PERSIST_DONE: return "persist_done";
	case FSM_EV_FENCE_RESULT: return "fence_result";
	case FSM_EV_TIMER: return "timer";
	case FSM_EV_ADMIN: return "admin";
	}
	return "?";
}

const char *fsm_action_kind_to_str(enum fsm_action_kind k)
{
	switch (k) {
	case FSM_ACT_QMP: return "qmp";
	case FSM_ACT_SEND: return "send";
	case FSM_ACT_PERSIST: return "persist";
	case FSM_ACT_FENCE: return "fence";
	case FSM_ACT_TIMER_START: return "timer_start";
	case FSM_ACT_TIMER_CANCEL: return "timer_cancel";
	case FSM_ACT_KILL: return "kill";
	case FSM_ACT_STATUS: return "status";
	case FSM_ACT_AUDIT: return "audit";
	}
	return "?";
}

const char *fsm_vm_status_to_str(enum fsm_vm_status s)
{
	switch (s) {
	case FSM_ST_UNKNOWN: return "unknown";
	case FSM_ST_PROTECTED: return "protected";
	case FSM_ST_DEGRADED: return "degraded";
	case FSM_ST_FAILING_OVER: return "failing-over";
	case FSM_ST_SOLO: return "solo";
	case FSM_ST_FREEZING: return "freezing";
	case FSM_ST_FROZEN: return "frozen";
	case FSM_ST_STALE: return "stale";
	case FSM_ST_STALLED: return "stalled";
	case FSM_ST_WAITING: return "waiting";
	}
	return "?";
}

const char *fsm_run_state_to_str(enum fsm_run_state r)
{
	switch (r) {
	case FSM_RUN_UNKNOWN: return "unknown";
	case FSM_RUN_RUNNING: return "running";
	case FSM_RUN_PAUSED: return "paused";
	}
	return "?";
}

const char *fsm_mig_state_to_str(enum fsm_mig_state m)
{
	switch (m) {
	case FSM_MIG_UNKNOWN: return "unknown";
	case FSM_MIG_NONE: return "none";
	case FSM_MIG_ACTIVE: return "active";
	case FSM_MIG_COLO: return "colo";
	case FSM_MIG_COMPLETED: return "completed";
	case FSM_MIG_FAILED: return "failed";
	}
	return "?";
}

const char *fsm_fence_policy_to_str(enum fsm_fence_policy p)
{
	switch (p) {
	case FSM_FENCE_PACEMAKER: return "pacemaker";
	case FSM_FENCE_SELF: return "self";
	case FSM_FENCE_NONE: return "none";
	}
	return "?";
}

const char *fsm_cmd_result_to_str(enum fsm_cmd_result r)
{
	switch (r) {
	case FSM_RES_RETURN: return "return";
	case FSM_RES_ERROR: return "error";
	case FSM_RES_NOT_DELIVERED: return "not-delivered";
	case FSM_RES_TIMEOUT: return "timeout";
	}
	return "?";
}

bool fsm_event_is_qmp(enum fsm_event_kind k)
{
	switch (k) {
	case FSM_EV_QMP_CONNECTED:
	case FSM_EV_QMP_LOST:
	case FSM_EV_QMP_COLO_EXIT:
	case FSM_EV_QMP_COLO_STATUS:
	case FSM_EV_QMP_STATUS:
	case FSM_EV_QMP_MIGRATE:
	case FSM_EV_QMP_RESUME:
	case FSM_EV_QMP_STOP:
	case FSM_EV_QMP_YANK_SET:
	case FSM_EV_QEMU_EXITED:
		return true;
	default:
		return false;
	}
}

const char *fsm_event_vm(const struct fsm_event *ev)
{
	if (fsm_event_is_qmp(ev->kind))
		return ev->u.qmp.vm;
	switch (ev->kind) {
	case FSM_EV_PEER_MSG:
		return ev->u.peer.msg.vm[0] ? ev->u.peer.msg.vm : NULL;
	case FSM_EV_ADMIN:
		return ev->u.admin.vm;
	case FSM_EV_PERSIST_DONE:
		return ev->u.persisted.vm;
	default:
		return NULL;
	}
}
