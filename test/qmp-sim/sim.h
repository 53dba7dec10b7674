/*
 * sim.h: shared state of qmp-sim, the QEMU COLO stand-in used by tests.
 * One process, one poll() loop, many simulated VMs. This is a test tool:
 * it must never link the arbiter's libraries (it is an independent check of
 * the arbiter's QMP client), and it only talks over local unix sockets.
 */
#ifndef QMP_SIM_H
#define QMP_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "compiler.h"

#define SIM_MAX_SOCKS 4           /* qmp, qmp2, qmp3, qmp4 */
#define SIM_MAX_LINE (4u << 20)   /* one incoming JSON value, bytes */
#define SIM_MAX_OUT (64u << 20)   /* unsent bytes before we drop a client */
#define SIM_LOG_MAX 20000         /* log entries kept per VM */

/* ---- stream framing (sim_json.c) ---- */
struct sim_framer {
	char *buf;
	size_t len, cap;
	size_t scan;     /* bytes of buf already scanned */
	int depth;
	bool in_str, esc;
	size_t start;    /* start of the current value */
	bool in_scalar;  /* a top-level scalar/garbage token is being read */
};

/* Appends bytes; returns 0 or -ENOMEM / -E2BIG. */
int sim_framer_feed(struct sim_framer *f, const char *data, size_t len);
/*
 * Extracts the next complete top-level JSON text. Returns 1 with *out
 * (malloc'ed, NUL-terminated) set, 0 when more input is needed.
 */
int sim_framer_next(struct sim_framer *f, char **out, size_t *outlen);
void sim_framer_free(struct sim_framer *f);

/* ---- output buffer ---- */
struct sim_outbuf {
	char *buf;
	size_t len, cap, off;
};
int sim_outbuf_add(struct sim_outbuf *o, const char *data, size_t len);
/* Writes what it can; returns 0, or -errno on a fatal error. */
int sim_outbuf_flush(struct sim_outbuf *o, int fd);
void sim_outbuf_free(struct sim_outbuf *o);
/* Dumps j compactly with QEMU's ", " / ": " separators, preserving order. */
char *sim_json_dump(const json_t *j);

/* ---- time and timers (sim_main.c) ---- */
uint64_t sim_now_us(void);
json_t *sim_wall_timestamp(void);

enum sim_build {
	SIM_BUILD_COLO,          /* QEMU 7.2 with COLO */
	SIM_BUILD_NO_COLO,       /* a build without replication */
	SIM_BUILD_QEMU10_BROKEN, /* Debian's 10.0.2 backport, pair never forms */
};
const char *sim_build_to_str(enum sim_build b);

enum colo_mode { COLO_MODE_NONE, COLO_MODE_PRIMARY, COLO_MODE_SECONDARY };
const char *colo_mode_to_str(enum colo_mode m);

enum colo_reason { COLO_REASON_NONE, COLO_REASON_REQUEST, COLO_REASON_ERROR,
		   COLO_REASON_PROCESSING };
const char *colo_reason_to_str(enum colo_reason r);

/* What happens to the replication links between the two sides. */
enum sim_link {
	LINK_OK,       /* both ends talk */
	LINK_RESET,    /* a RST/EOF reached the other end (kill, ss -K, quit) */
	LINK_SILENT,   /* packets vanish: power loss, partition */
};

enum sim_exit_reason_policy { EXIT_REASON_REQUEST, EXIT_REASON_ERROR,
			      EXIT_REASON_RANDOM };

/* Recorded delays, µs; defaults are the medians of the transcripts. */
struct sim_delays {
	uint32_t p_stop, p_migrated, p_reply, p_exit, p_resume;
	uint32_t s_stop, s_migrated, s_exit, s_reply, s_resume;
	uint32_t s_notice_kill;    /* secondary: primary killed -> COLO_EXIT */
	uint32_t s_notice_reset;   /* secondary: ss -K -> COLO_EXIT */
	uint32_t s_notice_yank;    /* secondary: yank migration -> COLO_EXIT */
	uint32_t rescue;           /* yank -> stuck command completes */
	uint32_t stop_event, stop_reply;
	uint32_t checkpoint_fail;
	uint32_t checkpoint_silent; /* TCP retransmission timeout */
	uint32_t quit_exit;        /* quit reply -> sockets close */
	uint32_t blockdev_add_nbd; /* NBD connect during blockdev-add */
	/* pair formation, from the primary's migrate */
	uint32_t mig_s_active, mig_pass1, mig_block_p, mig_active, mig_pass2, mig_colo_p,
		 mig_colo_s, mig_resume_s, mig_resume_p;
	uint32_t q10_device, q10_pass2, q10_completed, q10_colo_s, q10_resume_s,
		 q10_exit_s;
};

struct sim_vm;
struct sim_conn;
struct sim_job;

typedef void (*sim_step_fn)(struct sim_vm *vm, struct sim_job *job);

enum sim_step_op {
	STEP_EVENT,   /* emit event name with data (may be NULL) */
	STEP_REPLY,   /* reply job->reply to the job's client */
	STEP_CALL,    /* run fn */
	STEP_HANG,    /* stop here if the disk flush hangs (fn decides) */
	STEP_DONE,    /* the in-band dispatcher is free again */
};

struct sim_step {
	uint64_t at_us;  /* offset from job start */
	enum sim_step_op op;
	char *event;
	json_t *data;
	sim_step_fn fn;
};

/* A timed sequence of effects, owned by one VM. */
struct sim_job {
	struct sim_job *next_in_vm;
	struct sim_vm *vm;
	uint64_t start_us, due_us, seq;
	struct sim_step *steps;
	size_t nsteps, cap, pos;
	bool blocks;          /* holds the VM's in-band dispatcher */
	bool hung;            /* waiting in a flush for a yank */
	bool rescued;         /* a yank failed the flush */
	uint64_t conn_id;     /* client to reply to (0: none) */
	json_t *id;           /* request id (NULL: none) */
	json_t *reply;        /* return value or error object */
	bool reply_is_error;
	bool drop_after_reply;
	char *what;           /* command name, for state/debug */
};

/* A queued in-band request. */
struct sim_req {
	struct sim_req *next;
	uint64_t conn_id;
	json_t *req;        /* NULL for input that did not parse */
	char *parse_error;  /* then QEMU's error text */
};

enum sim_fault_kind { FAULT_DELAY, FAULT_DROP_BEFORE, FAULT_DROP_AFTER,
		      FAULT_GARBAGE, FAULT_OVERSIZE, FAULT_NO_GREETING };

struct sim_fault {
	struct sim_fault *next;
	enum sim_fault_kind kind;
	int sock;           /* index into vm->socks, -1 = any */
	char *match;        /* command name or NULL */
	uint32_t ms;
	char *bytes;
	size_t size;
};

struct sim_conn {
	struct sim_conn *next;
	struct sim_vm *vm;
	int sock;            /* which listening socket it came from */
	int fd;
	uint64_t id;
	bool negotiated, oob, closing;
	struct sim_framer in;
	struct sim_outbuf out;
};

struct sim_chardev {
	char label[32];
	bool frontend_open;
	bool present;
	bool peer_facing;   /* connected only while the replication link lives */
};

struct sim_vm {
	struct sim_vm *next;
	char *name;
	int index;
	enum sim_build build;
	char *sock_path[SIM_MAX_SOCKS];
	int listen_fd[SIM_MAX_SOCKS];
	int nsocks;
	struct sim_conn *conns;
	bool alive;          /* false after kill/quit: listed as dead */
	bool vanished;       /* silent-loss: nothing answers any more */
	bool hang_fault;     /* fault "hang" */
	bool fast;
	bool no_accept;      /* fault "no-accept": new connections wait */
	int child_pid;       /* "process":true: the listener process, else 0 */
	int child_fd;        /* its end of the pair; EOF = it died; -1 none */

	/* --- the QEMU model --- */
	char status[16];     /* running, paused, inmigrate, postmigrate, ... */
	bool running;
	enum colo_mode mode, last_mode;
	enum colo_reason reason;
	bool colo_exited;    /* COLO_EXIT already emitted for this COLO run */
	bool failover_in_flight;
	char migration[24];  /* query-migrate status, "" = none */
	bool cap_xcolo, cap_events;
	json_t *mig_params;
	json_t *mig_caps;    /* object name -> bool */
	char mig_uri[128];   /* primary: migrate uri; secondary: incoming */
	int setup_time;

	/* peer and links */
	char *peer;          /* linked VM name */
	bool is_linked_primary;
	enum sim_link mig_link;  /* migration stream */
	enum sim_link nbd_link;  /* primary's NBD client -> secondary's server */
	bool nbd_yanked, mig_yanked;
	bool checkpoint_stalled;

	/* block layer */
	bool repl_node;          /* replication0 exists (primary) */
	bool repl_attached;      /* quorum child children.1 */
	char nbd_node[24];       /* auto name of the NBD node, "" = none */
	bool nbd_server;         /* secondary: NBD server running */
	json_t *nbd_exports;     /* array of export ids */

	json_t *objects;         /* object id -> qom-type */
	struct sim_chardev chardevs[24];
	int nchardevs;

	/* dispatcher */
	struct sim_req *queue, *queue_tail;
	struct sim_job *jobs;
	struct sim_job *inband;  /* the job holding the dispatcher */
	struct sim_fault *faults;

	/* knobs */
	struct sim_delays d;
	enum sim_exit_reason_policy exit_reason;
	uint32_t rand_state;
	bool hangup_executes;    /* queued commands survive a client hang-up */
	bool query_before_colo;  /* race: a query held during completion */

	/* log */
	json_t *log;
	size_t log_dropped;
};

/* ---- sim_main.c ---- */
extern struct sim_vm *sim_vms;
struct sim_vm *sim_vm_find(const char *name);
void sim_job_schedule(struct sim_job *job);
void sim_jobs_cancel_vm(struct sim_vm *vm);
void sim_request_exit(void);
void sim_logf(const char *fmt, ...) ATTR_PRINTF(1, 2);

/* ---- sim_monitor.c ---- */
struct sim_vm *sim_vm_new(const char *name, enum sim_build b, bool incoming,
			  char **paths, int npaths, bool fast, bool process,
			  char *err, size_t errlen);
void sim_vm_free(struct sim_vm *vm);
/* Bumped whenever a VM, a monitor connection or a control client is freed:
 * the poll loop then rebuilds its set before touching another of them. */
extern unsigned long sim_free_gen;
void sim_vm_close_sockets(struct sim_vm *vm, bool unlink_files);
struct sim_conn *sim_conn_find(struct sim_vm *vm, uint64_t id);
void sim_conn_close(struct sim_conn *c);
void sim_conn_send(struct sim_conn *c, const json_t *msg);
void sim_conn_send_raw(struct sim_conn *c, const char *data, size_t len);
void sim_vm_event(struct sim_vm *vm, const char *name, json_t *data);
void sim_vm_reply(struct sim_vm *vm, uint64_t conn_id, const json_t *id,
		  json_t *ret, bool is_error);
void sim_vm_log(struct sim_vm *vm, struct sim_conn *c, const char *dir,
		json_t *msg, const char *raw);
void sim_vm_pump(struct sim_vm *vm);  /* dispatch queued requests */
void sim_vm_accept(struct sim_vm *vm, int sock);
/* Writes a garbage/oversize fault now, or keeps it for the next client. */
void sim_vm_fault_write(struct sim_vm *vm, struct sim_fault *f);
void sim_fault_free(struct sim_fault *f);
void sim_conn_readable(struct sim_conn *c);
void sim_conn_writable(struct sim_conn *c);
void sim_vm_kill_now(struct sim_vm *vm, bool reset_peer);
json_t *sim_error(const char *cls, const char *fmt, ...) ATTR_PRINTF(2, 3);

/* ---- sim_proc.c ---- */
/* Listening sockets created by a child of their own (vm->child_pid). */
int sim_proc_spawn(struct sim_vm *vm, char **paths, int n, char *err, size_t errlen);
/* SIGKILL and reap it (idempotent). */
void sim_proc_kill(struct sim_vm *vm);
/* close(2) of a descriptor the loop may be watching (sim_main.c) */
void sim_poll_close(int fd);

/* ---- sim_colo.c ---- */
void colo_vm_init(struct sim_vm *vm, bool incoming);
/*
 * Executes one in-band or OOB command. Returns a job if the command takes
 * time (the job replies itself), else sets *ret and *is_error.
 */
struct sim_job *colo_execute(struct sim_vm *vm, struct sim_conn *c,
			     const char *cmd, json_t *args, json_t *id,
			     json_t **ret, bool *is_error);
bool colo_command_known(const struct sim_vm *vm, const char *cmd);
bool colo_command_oob(const char *cmd);
struct sim_job *sim_job_new(struct sim_vm *vm, bool blocks);
void sim_job_add(struct sim_job *job, uint64_t at_us, enum sim_step_op op,
		 const char *event, json_t *data, sim_step_fn fn);
void sim_job_run(struct sim_job *job);
void sim_job_step(struct sim_job *job);
extern struct sim_job *sim_current_job;
void sim_job_free(struct sim_job *job);
void colo_peer_killed(struct sim_vm *vm, struct sim_vm *dead);
void colo_silent_loss(struct sim_vm *vm);
int colo_partition(struct sim_vm *a, struct sim_vm *b, bool cut);
int colo_reset_migration(struct sim_vm *vm);
int colo_checkpoint(struct sim_vm *vm);
int colo_link(struct sim_vm *p, struct sim_vm *s);
int colo_pair(struct sim_vm *p, struct sim_vm *s);
json_t *colo_state(struct sim_vm *vm);
void colo_delays_default(struct sim_delays *d, bool fast);

/* ---- sim_control.c ---- */
void sim_control_handle(int fd_unused, const char *line, size_t len,
			struct sim_outbuf *out);

/* ---- sim_cmdlist.c ---- */
extern const char *const sim_qemu72_commands[];
extern const size_t sim_qemu72_ncommands;
json_t *sim_default_mig_params(void);
json_t *sim_migrate_completed_info(enum sim_build b, int setup_time);
extern const char *const sim_mig_capabilities[];
extern const size_t sim_mig_ncapabilities;

#endif
