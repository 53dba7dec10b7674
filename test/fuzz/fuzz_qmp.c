/*
 * fuzz_qmp.c: libFuzzer target for everything that reads bytes from QEMU: the framer, the
 * message classifier and the parsers of the query replies the arbiter relies on. The first
 * input byte picks the chunk size, so line splits at every position get exercised.
 * Crashes, sanitizer reports and leaks are the findings; there is nothing to assert.
 */
#include "qmp_framer.h"
#include "qmp_msg.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_reply(const json_t *ret)
{
	struct qmp_msg_error err;
	struct qmp_colo_status cs;
	struct qmp_vm_status vs;
	struct qmp_cmdset cmds;
	struct qmp_yank_list yl, peer;
	enum qmp_migration_status ms;

	(void)qmp_colo_status_parse(ret, &cs, &err);
	(void)qmp_vm_status_parse(ret, &vs, &err);
	(void)qmp_migrate_status_parse(ret, &ms, &err);
	if (qmp_cmdset_parse(ret, &cmds, &err) == 0) {
		(void)qmp_cmdset_has(&cmds, "x-colo-lost-heartbeat");
		qmp_cmdset_free(&cmds);
	}
	if (qmp_yank_list_parse(ret, &yl, &err) == 0) {
		if (qmp_yank_select_peer(&yl, NULL, 0, &peer) == 0) {
			json_t *args = qmp_yank_list_to_args(&peer);

			json_decref(args);
			qmp_yank_list_free(&peer);
		}
		qmp_yank_list_free(&yl);
	}
}

static int on_line(const char *line, size_t len, void *opaque)
{
	struct qmp_msg m;
	enum qmp_colo_mode mode;
	enum qmp_colo_reason reason;
	struct qmp_msg_error err;
	uint64_t id;

	(void)opaque;
	switch (qmp_msg_parse(line, len, &m)) {
	case QMP_MSG_RETURN:
		if (m.id)
			(void)qmp_msg_id_parse(m.id, &id);
		parse_reply(m.ret);
		break;
	case QMP_MSG_EVENT:
		if (m.data)
			(void)qmp_colo_exit_parse(m.data, &mode, &reason, &err);
		break;
	default:
		break;
	}
	qmp_msg_clear(&m);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qmp_framer f;
	size_t chunk, off = 0;
	uint64_t err_off;

	if (size == 0)
		return 0;
	chunk = (size_t)(data[0] % 64) + 1;
	data++;
	size--;
	/* A small limit so oversize lines are reachable within -max_len. */
	qmp_framer_init(&f, 256);
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;

		if (qmp_framer_feed(&f, data + off, n, on_line, NULL, &err_off) < 0) {
			qmp_framer_reset(&f);
		}
		off += n;
	}
	qmp_framer_free(&f);
	return 0;
}
