/*
 * daemon_registry.c: which local VMs the daemon watches.
 *
 * VM files come from the config's vm_dir (one file per VM, read at start
 * and on SIGHUP) and from run-time `vm-add` requests, which are stored as
 * files in the same format (config_vm_print) under run_dir/vm.d so that
 * they survive a daemon restart (but not a reboot: /run).  A reload adds new
 * files and removes VMs whose file is gone; a VM whose file changed is left
 * as it is (logged): its QEMU connection must not be dropped on a reload.
 * Parsing is config.c's; this file only reads and writes files.
 */
#include "daemon.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <qb/qblog.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_MAX (1024 * 1024)

int daemon_read_file(const char *path, char **text, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	size_t have = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > FILE_MAX) {
		close(fd);
		return S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (have < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + have, (size_t)st.st_size - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	buf[have] = '\0';
	*text = buf;
	*len = have;
	return 0;
}

int daemon_load_config(const char *path, struct arb_config *c, struct config_error *err)
{
	char *text;
	size_t len;
	int rc;

	config_defaults(c);
	rc = daemon_read_file(path, &text, &len);
	if (rc) {
		snprintf(err->file, sizeof(err->file), "%s", path);
		err->line = 0;
		err->key[0] = '\0';
		snprintf(err->msg, sizeof(err->msg), "%s", strerror(-rc));
		return rc;
	}
	rc = config_parse(text, len, path, c, err);
	free(text);
	return rc;
}

static void runtime_dir(struct daemon *d, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/vm.d", d->cfg.run_dir);
}

static bool vm_file_name(const char *n)
{
	size_t l = strlen(n);

	return n[0] != '.' && l > 5 && !strcmp(n + l - 5, ".conf");
}

static void load_dir(struct daemon *d, const char *dir, bool runtime, bool reload,
		     int *bad)
{
	DIR *dh = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;

	if (!dh) {
		if (errno != ENOENT)
			qb_log(LOG_ERR, "%s: %s", dir, strerror(errno));
		return;
	}
	/* sorted: the same files always give the same order */
	while ((de = readdir(dh))) {
		char **nn;

		if (!vm_file_name(de->d_name))
			continue;
		nn = realloc(names, sizeof(*names) * (n + 1));
		if (!nn)
			break;
		names = nn;
		names[n] = strdup(de->d_name);
		if (names[n])
			n++;
	}
	closedir(dh);
	for (size_t i = 0; i + 1 < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(names[i], names[j]) > 0) {
				char *t = names[i];

				names[i] = names[j];
				names[j] = t;
			}
	for (size_t i = 0; i < n; i++) {
		char path[ARB_PATH_MAX * 2], *text;
		size_t len;
		struct arb_vm_config vm;
		struct config_error err;
		struct daemon_vm *v;
		int rc;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		free(names[i]);
		memset(&err, 0, sizeof(err));
		rc = daemon_read_file(path, &text, &len);
		if (rc) {
			qb_log(LOG_ERR, "%s: %s", path, strerror(-rc));
			(*bad)++;
			continue;
		}
		rc = config_vm_parse(text, len, path, &vm, &err);
		free(text);
		if (rc) {
			char buf[700];

			config_error_format(&err, buf, sizeof(buf));
			qb_log(LOG_ERR, "%s", buf);
			(*bad)++;
			continue;
		}
		v = daemon_vm_find(d, vm.name);
		if (v) {
			if (!v->seen)
				v->seen = true;
			else if (!reload)
				qb_log(LOG_ERR, "%s: VM %s defined twice: ignored", path, vm.name);
			config_vm_free(&vm);
			continue;
		}
		rc = daemon_vm_add(d, &vm, runtime);
		if (rc) {
			qb_log(LOG_ERR, "%s: VM %s not added: %s", path, vm.name, strerror(-rc));
			config_vm_free(&vm);
			(*bad)++;
		}
	}
	free(names);
}

int daemon_registry_load(struct daemon *d, bool reload)
{
	char rt[ARB_PATH_MAX + 8];
	int bad = 0;

	for (struct daemon_vm *v = d->vms; v; v = v->next)
		v->seen = false;
	load_dir(d, d->cfg.vm_dir, false, reload, &bad);
	runtime_dir(d, rt, sizeof(rt));
	load_dir(d, rt, true, reload, &bad);
	if (reload) {
		struct daemon_vm *v = d->vms, *next;

		for (; v; v = next) {
			next = v->next;
			if (!v->seen && daemon_vm_remove(d, v))
				bad++; /* busy: kept, logged; the next reload retries */
		}
	}
	return bad ? -EINVAL : 0;
}

int daemon_registry_store(struct daemon *d, const struct arb_vm_config *cfg)
{
	char dir[ARB_PATH_MAX + 8], path[ARB_PATH_MAX + 128], tmp[ARB_PATH_MAX + 140];
	char *text = config_vm_print(cfg);
	int fd, rc = 0;

	if (!text)
		return -ENOMEM;
	runtime_dir(d, dir, sizeof(dir));
	if (mkdir(d->cfg.run_dir, 0750) && errno != EEXIST)
		rc = -errno;
	if (!rc && mkdir(dir, 0750) && errno != EEXIST)
		rc = -errno;
	snprintf(path, sizeof(path), "%s/%s.conf", dir, cfg->name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, cfg->name);
	if (!rc) {
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
		if (fd < 0) {
			rc = -errno;
		} else {
			size_t l = strlen(text);

			if (write(fd, text, l) != (ssize_t)l || fsync(fd))
				rc = errno ? -errno : -EIO;
			close(fd);
			if (!rc && rename(tmp, path))
				rc = -errno;
			if (rc)
				unlink(tmp);
		}
	}
	free(text);
	return rc;
}

int daemon_registry_unstore(struct daemon *d, const char *name)
{
	char path[ARB_PATH_MAX + 128];

	snprintf(path, sizeof(path), "%s/vm.d/%s.conf", d->cfg.run_dir, name);
	if (unlink(path) && errno != ENOENT)
		return -errno;
	return 0;
}
