/*
 * sockline.c: test helper. Connects to a unix stream socket, writes each
 * argument as one line and prints one reply line per argument (the qmp-sim
 * control protocol).  With --greeting, first prints the greeting line (the
 * colo-arbiterd control protocol).  Exit 1 on any error or after 10 s.
 * With --dgram-recv N, binds SOCKET as a unix datagram socket instead and
 * prints the first N datagrams received, one per line with newlines shown
 * as '|' (a stand-in for systemd's notify socket).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int read_line(int fd)
{
	char c;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 10000) != 1)
			return -1;
		n = read(fd, &c, 1);
		if (n != 1)
			return -1;
		putchar(c);
		if (c == '\n')
			return 0;
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, i = 1, greeting = 0;

	if (argc == 4 && !strcmp(argv[1], "--dgram-recv")) {
		int want = atoi(argv[3]);

		if (strlen(argv[2]) >= sizeof(sa.sun_path))
			return 2;
		strcpy(sa.sun_path, argv[2]);
		fd = socket(AF_UNIX, SOCK_DGRAM, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
			return 1;
		printf("BOUND\n");
		fflush(stdout);
		for (int k = 0; k < want; k++) {
			char buf[4096];
			struct pollfd p = { .fd = fd, .events = POLLIN };
			ssize_t n;

			if (poll(&p, 1, 20000) != 1)
				return 1;
			n = recv(fd, buf, sizeof(buf) - 1, 0);
			if (n < 0)
				return 1;
			for (ssize_t j = 0; j < n; j++)
				putchar(buf[j] == '\n' ? '|' : buf[j]);
			putchar('\n');
			fflush(stdout);
		}
		close(fd);
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "--greeting")) {
		greeting = 1;
		i++;
	}
	if (argc - i < 1 || strlen(argv[i]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: sockline [--greeting] SOCKET LINE...\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[i++]);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "sockline: %s: %s\n", sa.sun_path, strerror(errno));
		return 1;
	}
	if (greeting && read_line(fd))
		return 1;
	for (; i < argc; i++) {
		size_t l = strlen(argv[i]);

		if (write(fd, argv[i], l) != (ssize_t)l || write(fd, "\n", 1) != 1)
			return 1;
		if (read_line(fd))
			return 1;
	}
	fflush(stdout);
	close(fd);
	return 0;
}
