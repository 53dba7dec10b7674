/*
 * fuzz_control.c: libFuzzer target for the control socket's input path: any
 * byte stream a local client can write, framed into lines as control.c does
 * (bounded line, NUL refused) and decoded by control_request_parse().
 * Beyond crashes, sanitizer reports and leaks it checks the decoder's
 * contract: success means a non-empty command and an object of arguments;
 * failure means -EINVAL/-ENOMEM with a non-empty, terminated error text.
 */
#include "control_msg.h"
#include "qmp_framer.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_line(const char *line, size_t len, void *opaque)
{
	struct control_request rq;
	char desc[512];
	int r;

	(void)opaque;
	memset(desc, 'x', sizeof(desc));
	r = control_request_parse(line, len, &rq, desc, sizeof(desc));
	if (r == 0) {
		if (!rq.cmd || !rq.cmd[0] || !json_is_object(rq.args) || !rq.req)
			abort();
		if (rq.id && json_object_get(rq.req, "id") != rq.id)
			abort();
	} else if (r == -EINVAL) {
		if (!memchr(desc, '\0', sizeof(desc)) || !desc[0] || rq.cmd)
			abort();
	} else if (r != -ENOMEM) {
		abort();
	}
	control_request_clear(&rq);
	if (rq.req || rq.args || rq.id || rq.cmd)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qmp_framer f;
	size_t off = 0;

	/* a small limit so the fuzzer reaches the oversize path quickly */
	qmp_framer_init(&f, 4096);
	while (off < size) {
		size_t chunk = size - off < 97 ? size - off : 97;
		int r = qmp_framer_feed(&f, data + off, chunk, on_line, NULL, NULL);

		if (r == QMP_FRAMER_E_OVERSIZE || r == QMP_FRAMER_E_NUL)
			break; /* control.c answers and closes here */
		if (r < 0 && r != QMP_FRAMER_E_NOMEM)
			abort();
		off += chunk;
	}
	qmp_framer_free(&f);
	return 0;
}
