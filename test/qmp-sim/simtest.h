/*
 * simtest.h: helpers shared by the qmp-sim tests: start/stop a simulator in
 * a private temp directory, control requests, and a raw QMP client that
 * reads whole lines with timeouts. Test code only; it must clean up every
 * process and file it creates, also when a test fails.
 */
#ifndef QMP_SIMTEST_H
#define QMP_SIMTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

#include "compiler.h"

struct simtest_sim {
	pid_t pid;
	char dir[128];
	char ctl_path[192];
	int ctl_fd;
	char rbuf[1 << 16];
	size_t rlen;
};

struct simtest_conn {
	int fd;
	bool eof;
	char *buf;
	size_t len, cap;
};

/* Starts $QMP_SIM in a fresh temp dir; returns 0 or -1. */
int simtest_start(struct simtest_sim *s);
/* Asks for a clean exit, waits (kills after 5 s), removes the dir. */
int simtest_stop(struct simtest_sim *s);
/* Sends one control line and returns the parsed reply (NULL on timeout). */
json_t *simtest_ctl(struct simtest_sim *s, const char *line);
json_t *simtest_ctlf(struct simtest_sim *s, const char *fmt, ...)
	ATTR_PRINTF(2, 3);
/* true if the reply is {"ok":true,...}; frees it */
bool simtest_ctl_ok(struct simtest_sim *s, const char *fmt, ...)
	ATTR_PRINTF(2, 3);
void simtest_path(const struct simtest_sim *s, const char *name, char *out,
		  size_t outlen);

int simtest_connect(struct simtest_conn *c, const char *path);
void simtest_close(struct simtest_conn *c);
int simtest_send(struct simtest_conn *c, const char *text);
/*
 * Reads one line (without CR/LF) within timeout_ms. Returns 1 and a malloc'ed
 * line, 0 on timeout, -1 on EOF/error.
 */
int simtest_read_line(struct simtest_conn *c, int timeout_ms, char **line);
/* Waits up to timeout_ms for EOF; true if the peer closed. */
bool simtest_wait_eof(struct simtest_conn *c, int timeout_ms);

long long simtest_now_ms(void);
void simtest_sleep_ms(int ms);

#endif
