/*
 * qmp_msg.h: QMP messages as data: classify one received line, build one
 * command line, and read the replies the arbiter relies on.
 *
 * Pure: jansson only; no I/O, no clock, no logging. Every parser reports
 * where and why its input was wrong and never trusts a field's type.
 *
 * Received shapes (QEMU 7.2 .. 10.0, see test/data/qemu-colo/):
 *   greeting  {"QMP":{"version":{"qemu":{"major":M,"minor":m,"micro":u},
 *                                "package":S},"capabilities":[S...]}}
 *   return    {"return":X[,"id":ID]}
 *   error     {"error":{"class":S,"desc":S}[,"id":ID]}
 *   event     {"event":S[,"data":{...}],"timestamp":{"seconds":N,
 *                                                     "microseconds":N}}
 * Exactly one of the keys QMP/return/error/event must be present; other keys
 * (besides "id") are ignored for forward compatibility. Anything else,
 * including invalid JSON or invalid UTF-8 (jansson rejects both) and
 * duplicate keys, is QMP_MSG_INVALID with an error telling where.
 */
#ifndef COLO_ARBITER_QMP_MSG_H
#define COLO_ARBITER_QMP_MSG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- ids */

/* Command ids are strings "cab-<n>", n a decimal uint64 without leading
 * zeros. A reply carrying any other id was not sent by us. */
#define QMP_MSG_ID_PREFIX "cab-"
#define QMP_MSG_ID_MAX 32 /* buffer size for a formatted id, with NUL */

/* Writes "cab-<n>" to buf (size >= QMP_MSG_ID_MAX). Returns its length. */
int qmp_msg_id_format(char *buf, size_t size, uint64_t n);

/* Parses an id written by qmp_msg_id_format(). 0, or -EINVAL if id is not
 * a string of that exact form (NULL, non-string, "cab-01", "cab-x"...). */
int qmp_msg_id_parse(const json_t *id, uint64_t *n);

/* ----------------------------------------------------------- messages */

enum qmp_msg_kind {
	QMP_MSG_INVALID = 0,
	QMP_MSG_GREETING,
	QMP_MSG_RETURN,
	QMP_MSG_ERROR,
	QMP_MSG_EVENT,
};
const char *qmp_msg_kind_to_str(enum qmp_msg_kind k);

/* QEMU's error classes (qapi/error.json). Match the class, never the text:
 * QEMU 10 words the same errors differently. */
enum qmp_error_class {
	QMP_ERROR_CLASS_UNKNOWN = 0, /* a class this code does not know */
	QMP_ERROR_CLASS_GENERIC,     /* GenericError */
	QMP_ERROR_CLASS_COMMAND_NOT_FOUND,
	QMP_ERROR_CLASS_DEVICE_NOT_ACTIVE,
	QMP_ERROR_CLASS_DEVICE_NOT_FOUND,
	QMP_ERROR_CLASS_KVM_MISSING_CAP,
};
const char *qmp_error_class_to_str(enum qmp_error_class c);
enum qmp_error_class qmp_error_class_from_str(const char *s);

/* Where and why a line was rejected. line/column are 1-based as jansson
 * counts them (-1 when the JSON was fine but its shape was not); position
 * is a byte offset into the line. */
struct qmp_msg_error {
	int line;
	int column;
	size_t position;
	char text[160];
};

struct qmp_version {
	int major;
	int minor;
	int micro;
	/* truncated if longer: one is kept per monitor, and distributions'
	 * strings are ~20-40 bytes ("Debian 1:10.0.2+ds-2+deb13u1~bpo12+1") */
	char package[64];
};

/*
 * One classified line. Pointers and json_t members are borrowed from
 * `root` and live until qmp_msg_clear(); json_incref() what you keep.
 */
struct qmp_msg {
	enum qmp_msg_kind kind;
	json_t *root;       /* the whole object; NULL for INVALID */
	json_t *id;         /* RETURN/ERROR: "id" member or NULL */
	/* GREETING */
	struct qmp_version version;
	json_t *capabilities; /* array of strings */
	bool cap_oob;         /* "oob" offered */
	/* RETURN */
	json_t *ret;
	/* ERROR */
	enum qmp_error_class err_class;
	const char *err_class_str;
	const char *err_desc;
	/* EVENT */
	const char *event;
	json_t *data;         /* object or NULL (RESUME has no data) */
	int64_t ts_sec;
	int64_t ts_usec;
	/* INVALID */
	struct qmp_msg_error error;
};

/*
 * Classifies one line (without its terminator; need not be NUL-terminated).
 * Fills *m (always; call qmp_msg_clear() afterwards whatever the result) and
 * returns m->kind.
 */
enum qmp_msg_kind qmp_msg_parse(const char *line, size_t len, struct qmp_msg *m);

/* Drops the reference on m->root and zeroes m. Safe on a zeroed m. */
void qmp_msg_clear(struct qmp_msg *m);

/*
 * Builds one command line, compact JSON plus "\n":
 *   {"execute":NAME[,"arguments":ARGS],"id":"cab-<id>"}   (oob false)
 *   {"exec-oob":NAME[,"arguments":ARGS],"id":"cab-<id>"}  (oob true)
 * args is borrowed (not stolen) and must be an object or NULL. On success
 * *out is malloc()ed (free() it), *out_len its length, and 0 is returned;
 * -EINVAL for an empty name or a non-object args, -ENOMEM.
 */
int qmp_msg_build_command(const char *name, const json_t *args, uint64_t id,
			  bool oob, char **out, size_t *out_len);

/* --------------------------------------------------- query-colo-status */

enum qmp_colo_mode {
	QMP_COLO_MODE_NONE = 0,
	QMP_COLO_MODE_PRIMARY,
	QMP_COLO_MODE_SECONDARY,
};
enum qmp_colo_reason {
	QMP_COLO_REASON_NONE = 0,
	QMP_COLO_REASON_REQUEST,
	QMP_COLO_REASON_ERROR,
	QMP_COLO_REASON_PROCESSING,
};
const char *qmp_colo_mode_to_str(enum qmp_colo_mode m);
const char *qmp_colo_reason_to_str(enum qmp_colo_reason r);
/* 0, or -EINVAL for a string outside the enum. */
int qmp_colo_mode_from_str(const char *s, enum qmp_colo_mode *out);
int qmp_colo_reason_from_str(const char *s, enum qmp_colo_reason *out);

struct qmp_colo_status {
	enum qmp_colo_mode mode;
	enum qmp_colo_mode last_mode;
	enum qmp_colo_reason reason;
};

/* Reads the "return" of query-colo-status: {"mode","last-mode","reason"},
 * all required. 0, or -EINVAL with a reason in err (may be NULL). */
int qmp_colo_status_parse(const json_t *ret, struct qmp_colo_status *out,
			  struct qmp_msg_error *err);

/* Reads COLO_EXIT's data {"mode","reason"} (reason is only a hint). */
int qmp_colo_exit_parse(const json_t *data, enum qmp_colo_mode *mode,
			enum qmp_colo_reason *reason, struct qmp_msg_error *err);

/* -------------------------------------------------------- query-status */

/* QEMU's RunState. Unknown strings map to QMP_RUN_STATE_UNKNOWN (QEMU adds
 * states now and then; that is not a reason to reject the reply). */
enum qmp_run_state {
	QMP_RUN_STATE_UNKNOWN = 0,
	QMP_RUN_STATE_DEBUG,
	QMP_RUN_STATE_INMIGRATE,
	QMP_RUN_STATE_INTERNAL_ERROR,
	QMP_RUN_STATE_IO_ERROR,
	QMP_RUN_STATE_PAUSED,
	QMP_RUN_STATE_POSTMIGRATE,
	QMP_RUN_STATE_PRELAUNCH,
	QMP_RUN_STATE_FINISH_MIGRATE,
	QMP_RUN_STATE_RESTORE_VM,
	QMP_RUN_STATE_RUNNING,
	QMP_RUN_STATE_SAVE_VM,
	QMP_RUN_STATE_SHUTDOWN,
	QMP_RUN_STATE_SUSPENDED,
	QMP_RUN_STATE_WATCHDOG,
	QMP_RUN_STATE_GUEST_PANICKED,
	QMP_RUN_STATE_COLO,
};
const char *qmp_run_state_to_str(enum qmp_run_state s);
enum qmp_run_state qmp_run_state_from_str(const char *s);

struct qmp_vm_status {
	enum qmp_run_state status;
	bool running;
};

/* Reads query-status' return: "status" (string) and "running" (bool) are
 * required. 0 or -EINVAL. */
int qmp_vm_status_parse(const json_t *ret, struct qmp_vm_status *out,
			struct qmp_msg_error *err);

/* ------------------------------------------------------- query-migrate */

/* QEMU's MigrationStatus; unknown strings map to _UNKNOWN. */
enum qmp_migration_status {
	QMP_MIGRATION_STATUS_UNKNOWN = 0,
	QMP_MIGRATION_STATUS_NONE,
	QMP_MIGRATION_STATUS_SETUP,
	QMP_MIGRATION_STATUS_CANCELLING,
	QMP_MIGRATION_STATUS_CANCELLED,
	QMP_MIGRATION_STATUS_ACTIVE,
	QMP_MIGRATION_STATUS_POSTCOPY_ACTIVE,
	QMP_MIGRATION_STATUS_POSTCOPY_PAUSED,
	QMP_MIGRATION_STATUS_POSTCOPY_RECOVER,
	QMP_MIGRATION_STATUS_COMPLETED,
	QMP_MIGRATION_STATUS_FAILED,
	QMP_MIGRATION_STATUS_COLO,
	QMP_MIGRATION_STATUS_PRE_SWITCHOVER,
	QMP_MIGRATION_STATUS_DEVICE,
	QMP_MIGRATION_STATUS_WAIT_UNPLUG,
};
const char *qmp_migration_status_to_str(enum qmp_migration_status s);
enum qmp_migration_status qmp_migration_status_from_str(const char *s);

/* Reads query-migrate's return (an object). A QEMU that never migrated
 * answers {} with no "status": that is QMP_MIGRATION_STATUS_NONE.
 * 0 or -EINVAL (not an object, or "status" not a string). */
int qmp_migrate_status_parse(const json_t *ret,
			     enum qmp_migration_status *out,
			     struct qmp_msg_error *err);

/* ------------------------------------------------------ query-commands */

/* A set of command names, sorted for bsearch. */
struct qmp_cmdset {
	char **names;
	size_t n;
};

/* Reads query-commands' return [{"name":S},...]. Duplicates are merged.
 * 0, -EINVAL (with err) or -ENOMEM; out is empty on failure. */
int qmp_cmdset_parse(const json_t *ret, struct qmp_cmdset *out,
		     struct qmp_msg_error *err);
bool qmp_cmdset_has(const struct qmp_cmdset *s, const char *name);
void qmp_cmdset_free(struct qmp_cmdset *s);

/* ---------------------------------------------------------- query-yank */

enum qmp_yank_type {
	QMP_YANK_UNKNOWN = 0, /* a type this code does not know: never yanked */
	QMP_YANK_BLOCK_NODE,
	QMP_YANK_CHARDEV,
	QMP_YANK_MIGRATION,
};
const char *qmp_yank_type_to_str(enum qmp_yank_type t);

struct qmp_yank_instance {
	enum qmp_yank_type type;
	char *name; /* block-node: node-name; chardev: id; else NULL */
};

struct qmp_yank_list {
	struct qmp_yank_instance *v;
	size_t n;
};

/* Reads query-yank's return [{"type":"block-node","node-name":S} |
 * {"type":"chardev","id":S} | {"type":"migration"} ...]. Unknown types are
 * kept as QMP_YANK_UNKNOWN. 0, -EINVAL (with err), -ENOMEM. */
int qmp_yank_list_parse(const json_t *ret, struct qmp_yank_list *out,
			struct qmp_msg_error *err);
void qmp_yank_list_free(struct qmp_yank_list *l);
int qmp_yank_list_copy(const struct qmp_yank_list *src,
		       struct qmp_yank_list *dst);

/* QEMU names the chardev of every -qmp/-monitor option "compat_monitorN". */
#define QMP_YANK_MONITOR_PREFIX "compat_monitor"

/* True for a chardev that carries a QMP/HMP monitor as QEMU names them. */
bool qmp_yank_is_monitor_chardev(const char *id);

/*
 * Selects the peer-facing set to yank on a hung or about-to-fail-over
 * QEMU (silent-loss/README.md): every block-node (the NBD node has an
 * auto-generated name such as "#block364"), "migration", and every chardev
 * EXCEPT monitor chardevs. Rule: never a monitor's chardev - yanking it cuts
 * the arbiter's own QMP link (and management's). Monitor chardevs are those
 * named compat_monitor* (QEMU's names for -qmp) plus the ids in `exclude`
 * (for monitors declared with -chardev id=X -mon chardev=X, which only the
 * deployment can name). Unknown types are never selected. Order is kept.
 * 0 or -ENOMEM; out must be freed with qmp_yank_list_free().
 */
int qmp_yank_select_peer(const struct qmp_yank_list *all,
			 const char *const *exclude, size_t n_exclude,
			 struct qmp_yank_list *out);

/* The arguments object for "yank": {"instances":[...]} (new reference, NULL
 * on ENOMEM). An empty list gives the harmless OOB liveness ping. */
json_t *qmp_yank_list_to_args(const struct qmp_yank_list *l);

#endif
