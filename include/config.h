/*
 * config.h: colo-arbiter.conf and the per-VM files of vm.d/ (see
 * colo-arbiter.conf(5)): parse, print back in canonical form, map to
 * struct fsm_config.
 *
 * Pure: the caller reads the files and passes their text; nothing here does
 * I/O, reads a clock or logs. Every rejection names file, line and key
 * ("file:line: key: message", see config_error_format()). Memory is bounded
 * (CONFIG_LINE_MAX, ARB_CMDS_MAX, ARB_YANK_EXCLUDE_MAX) and no input crashes.
 *
 * Where each safety refusal happens:
 *  - config_parse(): fence_policy = none without allow_unsafe = yes;
 *    liveness_bound not above liveness_period (SAFETY H1); an explicit
 *    self_wait shorter than P + B + SFT + kill_time without allow_unsafe
 *    (A4); fence_policy = self with two_node or last_man_standing set in
 *    the file itself (C3).
 *  - config_check_cluster(): the same C3 refusal with whatever the caller
 *    knows of the cluster's two_node/last_man_standing (from corosync where
 *    it can read them; colo-arbiterd has no libcmap and passes the file's),
 *    an expected_votes in the file that contradicts a known corosync figure,
 *    and whatever else fsm_config_check() refuses. The daemon calls it at
 *    start, before config_to_fsm()/fsm_new().
 */
#ifndef COLO_ARBITER_CONFIG_H
#define COLO_ARBITER_CONFIG_H

#include "fsm.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_LINE_MAX 4096     /* bytes per line, without the newline */
#define ARB_PATH_MAX 256         /* paths: absolute, printable ASCII, < this */
#define ARB_SOCKET_PATH_MAX 108  /* sun_path: control_socket, qmp, < this */
#define ARB_CMDS_MAX 32          /* pre-failover / post-failover items each */
#define ARB_YANK_EXCLUDE_MAX 8
#define ARB_CMD_TEXT_MAX 4000    /* one command as canonical JSON text */

/* Defaults (the same values as control.h's CONTROL_*_DEFAULT, which this
 * pure module cannot include: test_config checks they agree). */
#define CONFIG_CPG_GROUP_DEFAULT "colo-arbiter"
#define CONFIG_CONTROL_SOCKET_DEFAULT "/run/colo-arbiter/control.sock"
#define CONFIG_CONTROL_GROUP_DEFAULT "haclient"
#define CONFIG_CONTROL_MODE_DEFAULT 0660
#define CONFIG_STATE_DIR_DEFAULT "/var/lib/colo-arbiter"
#define CONFIG_RUN_DIR_DEFAULT "/run/colo-arbiter"
#define CONFIG_VM_DIR_DEFAULT "/etc/colo-arbiter/vm.d"
#define CONFIG_AUDIT_LOG_DEFAULT "/var/log/colo-arbiter/audit.jsonl"
#define CONFIG_LOG_LEVEL_DEFAULT "info"
/* SCHED_RR, above every normal task (the VMs), below corosync (99) */
#define CONFIG_REALTIME_PRIORITY_DEFAULT 10
/* sbd's default watchdog timeout */
#define CONFIG_WATCHDOG_TIMEOUT_DEFAULT_MS 5000
/* a quarter of what it was (corosync's is 8 MiB): resident in full, it
 * was the difference between over and under 8 MiB at 500 VMs, and with
 * the ticks' lines at trace an idle cluster writes nothing to it */
#define CONFIG_BLACKBOX_SIZE_DEFAULT (256 * 1024)

struct config_error {
	char file[256];
	int line;      /* 1-based; 0: not from a file (vm-add) */
	char key[64];  /* "" for a line that has no key */
	char msg[256];
};

/* Keys of colo-arbiter.conf, in canonical (printing) order. */
enum config_key {
	CONFIG_KEY_FENCE_POLICY,
	CONFIG_KEY_NO_QUORUM,
	CONFIG_KEY_ALLOW_UNSAFE,
	CONFIG_KEY_EXPECTED_VOTES,
	CONFIG_KEY_TWO_NODE,
	CONFIG_KEY_LAST_MAN_STANDING,
	CONFIG_KEY_LIVENESS_PERIOD,
	CONFIG_KEY_LIVENESS_BOUND,
	CONFIG_KEY_SELF_FENCE_TIMEOUT,
	CONFIG_KEY_SELF_WAIT,
	CONFIG_KEY_KILL_TIME,
	CONFIG_KEY_WATCHDOG_DEVICE,
	CONFIG_KEY_WATCHDOG_TIMEOUT,
	CONFIG_KEY_T_ARB,
	CONFIG_KEY_SKEW_MAX,
	CONFIG_KEY_STATE_PERIOD,
	CONFIG_KEY_COMMIT_TIMEOUT,
	CONFIG_KEY_QMP_TIMEOUT,
	CONFIG_KEY_FENCE_TIMEOUT,
	CONFIG_KEY_FREEZE_COLO_PRIMARIES,
	CONFIG_KEY_CPG_GROUP,
	CONFIG_KEY_CONTROL_SOCKET,
	CONFIG_KEY_CONTROL_GROUP,
	CONFIG_KEY_CONTROL_MODE,
	CONFIG_KEY_STATE_DIR,
	CONFIG_KEY_RUN_DIR,
	CONFIG_KEY_VM_DIR,
	CONFIG_KEY_AUDIT_LOG,
	CONFIG_KEY_LOG_LEVEL,
	CONFIG_KEY_LOG_STDERR,
	CONFIG_KEY_LOG_SYSLOG,
	CONFIG_KEY_BLACKBOX_SIZE,
	CONFIG_KEY_REALTIME_PRIORITY,
	CONFIG_KEY_COUNT
};
/* The canonical spelling ("fence_policy"), NULL out of range. */
const char *config_key_to_str(enum config_key k);

struct arb_config {
	enum fsm_fence_policy fence_policy;
	enum fsm_noquorum_policy no_quorum;
	bool allow_unsafe;
	uint32_t expected_votes;    /* 1..FSM_MAX_NODES */
	bool two_node;              /* corosync's may also say so: see above */
	bool last_man_standing;
	int64_t liveness_period_ms; /* P */
	int64_t liveness_bound_ms;  /* B (H1) */
	int64_t self_fence_timeout_ms;
	int64_t self_wait_ms;       /* 0: auto (the fsm computes W, A4) */
	int64_t kill_time_ms;
	char watchdog_device[ARB_PATH_MAX]; /* "": none */
	int64_t watchdog_timeout_ms;
	int64_t t_arb_ms;
	int64_t skew_max_s;
	int64_t state_period_ms;
	int64_t commit_timeout_ms;
	int64_t qmp_timeout_ms;     /* fsm_config.cmd_timeout_ms */
	int64_t fence_timeout_s;    /* the daemon's fencing worker */
	bool freeze_colo_primaries; /* H1 */
	char cpg_group[64];
	char control_socket[ARB_SOCKET_PATH_MAX];
	char control_group[64];     /* "": root only (control.h) */
	unsigned control_mode;      /* no bits for others */
	char state_dir[ARB_PATH_MAX];
	char run_dir[ARB_PATH_MAX];
	char vm_dir[ARB_PATH_MAX];
	char audit_log[ARB_PATH_MAX];
	char log_level[16];         /* err warning notice info debug */
	bool log_stderr, log_syslog;
	uint32_t blackbox_size;     /* bytes of the in-memory debug log */
	uint32_t realtime_priority; /* SCHED_RR priority, 0: normal scheduling */
	/* Where each key was set, for errors found after parsing. */
	char file[256];
	int line_of[CONFIG_KEY_COUNT]; /* 0: default */
};

/* watchdog_timeout as the device takes it: whole seconds, rounded up */
static inline int config_watchdog_secs(const struct arb_config *c)
{
	return (int)((c->watchdog_timeout_ms + 999) / 1000);
}

/* One pre/post-failover command, {"execute":S[,"arguments":{..}]}, as its
 * name and arguments: most have none, and a jansson object per command
 * was ~300 bytes of heap a VM. */
struct arb_qmp_cmd {
	char *execute;  /* a QMP command name, < 64 bytes */
	json_t *args;   /* an object (own reference), or NULL */
};

/* One QEMU side of a COLO pair on this node: a file in vm_dir. */
struct arb_vm_config {
	char name[FSM_NAME_MAX];    /* [A-Za-z0-9_.-]{1,63}, not "." first */
	char qmp[ARB_SOCKET_PATH_MAX]; /* the arbiter's own QMP socket */
	char role[16];              /* "primary" | "secondary" */
	uint32_t peer_node;         /* nodeid of the other side, != 0 */
	unsigned n_pre, n_post, n_yank_exclude;
	/* heap arrays of n_pre / n_post / n_yank_exclude entries (NULL when
	 * empty): most VMs have a few, and fixed arrays cost 1 KiB per VM */
	struct arb_qmp_cmd *pre;
	struct arb_qmp_cmd *post;
	char (*yank_exclude)[64]; /* < FSM_YANK_NAME_MAX */
};

void config_defaults(struct arb_config *c);

/*
 * Parses colo-arbiter.conf: defaults, then the file. text need not be
 * NUL-terminated (len bytes; NULL with len 0 is an empty file). 0, or
 * -EINVAL with *err filled (err may be NULL); -ENOMEM. *c is written only
 * on success, so a reload that fails keeps the running configuration.
 */
int config_parse(const char *text, size_t len, const char *filename,
		 struct arb_config *c, struct config_error *err);

/*
 * Parses one VM file. Same rules; name, qmp, role and peer-node are
 * required. *vm is written only on success and is then overwritten
 * without being freed: pass a fresh struct. Free it with config_vm_free().
 */
int config_vm_parse(const char *text, size_t len, const char *filename,
		    struct arb_vm_config *vm, struct config_error *err);

/* Canonical text (every key, one per line, fixed order); malloc'd, NULL on
 * ENOMEM. Parsing it gives the same struct back. */
char *config_print(const struct arb_config *c);
char *config_vm_print(const struct arb_vm_config *vm);

/*
 * The vm-add arguments: {"name":S,"qmp":S,"role":S,"peer-node":N,
 * "pre-failover":[{..}],"post-failover":[{..}],"yank-exclude":[S]} (lists
 * optional), checked as the file is. err->file is "vm-add", line 0.
 */
int config_vm_from_json(const json_t *args, struct arb_vm_config *vm,
			struct config_error *err);
json_t *config_vm_to_json(const struct arb_vm_config *vm); /* new ref */

/* Releases the command references; *vm is zeroed. NULL-safe. */
void config_vm_free(struct arb_vm_config *vm);

/* Deep copy (the command lists get new references). 0 or -ENOMEM. */
int config_vm_copy(const struct arb_vm_config *src, struct arb_vm_config *dst);

/* Same name, socket, role, peer and identical command lists. */
bool config_vm_equal(const struct arb_vm_config *a, const struct arb_vm_config *b);

/* One pre/post command as its canonical JSON text, malloc'd (the daemon
 * adds its "id" when sending). NULL on ENOMEM. */
char *config_vm_cmd_text(const struct arb_qmp_cmd *cmd);

/*
 * Fills *out for fsm_new(). local_nodeid comes from corosync;
 * expected_votes is corosync's (0: unknown, the file's value is used);
 * two_node is corosync's and is OR-ed with the file's. out->last_man_standing
 * is the file's; a daemon that learns it from corosync sets it afterwards,
 * then calls config_check_cluster().
 */
void config_to_fsm(const struct arb_config *c, uint32_t local_nodeid,
		   uint32_t expected_votes, bool two_node,
		   struct fsm_config *out);

/*
 * The checks that need the cluster's facts: C3 (`self` where two
 * partitions can both be quorate), expected_votes set in the file but
 * different from corosync's, and fsm_config_check(). 0, or -EINVAL with
 * *err naming the line of the key at fault.
 */
int config_check_cluster(const struct arb_config *c, uint32_t local_nodeid,
			 uint32_t expected_votes, bool two_node,
			 bool last_man_standing, struct config_error *err);

/* syslog priority (LOG_ERR .. LOG_DEBUG) of c->log_level. */
int config_log_priority(const struct arb_config *c);

/* "file:line: key: message" (parts that are empty or 0 left out). Returns
 * what snprintf returns. */
int config_error_format(const struct config_error *e, char *buf, size_t len);

#endif
