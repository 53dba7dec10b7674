/*
 * sim_cmdlist.c: constant data copied from the recorded transcripts
 * (test/data/qemu-colo/check.txt and the failover runs): QEMU 7.2's command
 * list, its migration parameters and capabilities, and query-migrate after
 * a completed migration. Data only, no logic.
 */
#include "sim.h"

const char *const sim_qemu72_commands[] = {
	"device_add",
	"x-query-virtio-queue-element",
	"x-query-virtio-vhost-queue-status",
	"x-query-virtio-queue-status",
	"x-query-virtio-status",
	"x-query-virtio",
	"query-stats-schemas",
	"query-stats",
	"query-pci",
	"query-acpi-ospm-status",
	"query-sgx-capabilities",
	"query-sgx",
	"query-sev-attestation-report",
	"sev-inject-launch-secret",
	"query-sev-capabilities",
	"query-sev-launch-measure",
	"query-sev",
	"rtc-reset-reinjection",
	"query-command-line-options",
	"query-fdsets",
	"remove-fd",
	"add-fd",
	"closefd",
	"getfd",
	"human-monitor-command",
	"x-exit-preconfig",
	"cont",
	"stop",
	"query-iothreads",
	"query-name",
	"add_client",
	"query-yank",
	"yank",
	"replay-seek",
	"replay-delete-break",
	"replay-break",
	"query-replay",
	"query-cpu-definitions",
	"query-cpu-model-expansion",
	"dumpdtb",
	"x-query-usb",
	"x-query-roms",
	"x-query-rdma",
	"x-query-ramblock",
	"x-query-profile",
	"x-query-opcount",
	"x-query-numa",
	"x-query-jit",
	"x-query-irq",
	"query-memory-devices",
	"query-memory-size-summary",
	"query-balloon",
	"balloon",
	"set-numa-node",
	"query-hotpluggable-cpus",
	"query-memdev",
	"pmemsave",
	"memsave",
	"query-kvm",
	"inject-nmi",
	"system_wakeup",
	"system_powerdown",
	"system_reset",
	"query-vm-generation-id",
	"query-uuid",
	"query-target",
	"query-current-machine",
	"query-machines",
	"query-cpus-fast",
	"device_del",
	"device-list-properties",
	"object-del",
	"object-add",
	"qom-list-properties",
	"qom-list-types",
	"qom-set",
	"qom-get",
	"qom-list",
	"query-qmp-schema",
	"quit",
	"query-commands",
	"query-version",
	"qmp_capabilities",
	"trace-event-set-state",
	"trace-event-get-state",
	"transaction",
	"snapshot-delete",
	"snapshot-load",
	"snapshot-save",
	"query-vcpu-dirty-limit",
	"cancel-vcpu-dirty-limit",
	"set-vcpu-dirty-limit",
	"query-dirty-rate",
	"calc-dirty-rate",
	"migrate-pause",
	"migrate-recover",
	"query-colo-status",
	"xen-colo-do-checkpoint",
	"query-xen-replication-status",
	"xen-set-replication",
	"xen-load-devices-state",
	"xen-set-global-dirty-log",
	"xen-save-devices-state",
	"migrate-incoming",
	"migrate",
	"migrate-continue",
	"migrate_cancel",
	"x-colo-lost-heartbeat",
	"migrate-start-postcopy",
	"client_migrate_info",
	"query-migrate-parameters",
	"migrate-set-parameters",
	"query-migrate-capabilities",
	"migrate-set-capabilities",
	"query-migrate",
	"display-update",
	"display-reload",
	"query-display-options",
	"input-send-event",
	"send-key",
	"query-mice",
	"change-vnc-password",
	"query-vnc-servers",
	"query-vnc",
	"query-spice",
	"screendump",
	"expire_password",
	"set_password",
	"query-tpm",
	"query-tpm-types",
	"query-tpm-models",
	"query-rocker-of-dpa-groups",
	"query-rocker-of-dpa-flows",
	"query-rocker-ports",
	"query-rocker",
	"announce-self",
	"query-rx-filter",
	"netdev_del",
	"netdev_add",
	"set_link",
	"query-dump-guest-memory-capability",
	"query-dump",
	"dump-guest-memory",
	"chardev-send-break",
	"chardev-remove",
	"chardev-change",
	"chardev-add",
	"ringbuf-read",
	"ringbuf-write",
	"query-chardev-backends",
	"query-chardev",
	"query-block-exports",
	"block-export-del",
	"block-export-add",
	"nbd-server-stop",
	"nbd-server-remove",
	"nbd-server-add",
	"nbd-server-start",
	"query-jobs",
	"job-finalize",
	"job-dismiss",
	"job-complete",
	"job-cancel",
	"job-resume",
	"job-pause",
	"blockdev-snapshot-delete-internal-sync",
	"blockdev-snapshot-internal-sync",
	"x-blockdev-set-iothread",
	"x-blockdev-change",
	"block-set-write-threshold",
	"x-blockdev-amend",
	"blockdev-create",
	"blockdev-del",
	"blockdev-reopen",
	"blockdev-add",
	"block-job-finalize",
	"block-job-dismiss",
	"block-job-complete",
	"block-job-resume",
	"block-job-pause",
	"block-job-cancel",
	"block-job-set-speed",
	"block-stream",
	"blockdev-mirror",
	"x-debug-block-dirty-bitmap-sha256",
	"block-dirty-bitmap-merge",
	"block-dirty-bitmap-disable",
	"block-dirty-bitmap-enable",
	"block-dirty-bitmap-clear",
	"block-dirty-bitmap-remove",
	"block-dirty-bitmap-add",
	"drive-mirror",
	"x-debug-query-block-graph",
	"query-named-block-nodes",
	"blockdev-backup",
	"drive-backup",
	"block-commit",
	"change-backing-file",
	"blockdev-snapshot",
	"blockdev-snapshot-sync",
	"block_resize",
	"query-block-jobs",
	"query-blockstats",
	"query-block",
	"block-latency-histogram-set",
	"block_set_io_throttle",
	"blockdev-change-medium",
	"blockdev-insert-medium",
	"blockdev-remove-medium",
	"blockdev-close-tray",
	"blockdev-open-tray",
	"eject",
	"query-pr-managers",
	"set-action",
	"watchdog-set-action",
	"query-status",
};
const size_t sim_qemu72_ncommands = ARRAY_SIZE(sim_qemu72_commands);

const char *const sim_mig_capabilities[] = {
	"xbzrle",
	"rdma-pin-all",
	"auto-converge",
	"zero-blocks",
	"compress",
	"events",
	"postcopy-ram",
	"x-colo",
	"release-ram",
	"block",
	"return-path",
	"pause-before-switchover",
	"multifd",
	"dirty-bitmaps",
	"postcopy-blocktime",
	"late-block-activate",
	"x-ignore-shared",
	"validate-uuid",
	"background-snapshot",
	"zero-copy-send",
	"postcopy-preempt",
};
const size_t sim_mig_ncapabilities = ARRAY_SIZE(sim_mig_capabilities);

static const char mig_params_json[] =
	"{\"cpu-throttle-tailslow\": false, \"xbzrle-cache-size\": 671088"
	"64, \"cpu-throttle-initial\": 20, \"announce-max\": 550, \"decomp"
	"ress-threads\": 2, \"compress-threads\": 8, \"compress-level\": 1"
	", \"multifd-channels\": 2, \"multifd-zstd-level\": 1, \"announce-"
	"initial\": 50, \"block-incremental\": false, \"compress-wait-thr"
	"ead\": true, \"downtime-limit\": 300, \"tls-authz\": \"\", \"multifd"
	"-compression\": \"none\", \"announce-rounds\": 5, \"announce-step\""
	": 100, \"tls-creds\": \"\", \"multifd-zlib-level\": 1, \"max-cpu-th"
	"rottle\": 99, \"max-postcopy-bandwidth\": 0, \"tls-hostname\": \"\""
	", \"throttle-trigger-threshold\": 50, \"max-bandwidth\": 1342177"
	"28, \"x-checkpoint-delay\": 20000, \"cpu-throttle-increment\": 1"
	"0}";

static const char completed72_json[] =
	"{\"status\": \"completed\", \"downtime\": 0, \"total-time\": 0, \"ram"
	"\": {\"total\": 134750208, \"postcopy-requests\": 0, \"dirty-sync-"
	"count\": 2, \"multifd-bytes\": 0, \"pages-per-second\": 0, \"downt"
	"ime-bytes\": 496829, \"page-size\": 4096, \"remaining\": 0, \"post"
	"copy-bytes\": 0, \"mbps\": 0, \"transferred\": 496829, \"dirty-syn"
	"c-missed-zero-copy\": 0, \"precopy-bytes\": 0, \"duplicate\": 328"
	"49, \"dirty-pages-rate\": 0, \"skipped\": 0, \"normal-bytes\": 200"
	"704, \"normal\": 49}}";

static const char completed10_json[] =
	"{\"status\": \"completed\", \"downtime\": 351, \"total-time\": 361, "
	"\"ram\": {\"total\": 134750208, \"postcopy-requests\": 0, \"dirty-s"
	"ync-count\": 2, \"multifd-bytes\": 0, \"pages-per-second\": 0, \"d"
	"owntime-bytes\": 505019, \"page-size\": 4096, \"remaining\": 0, \""
	"postcopy-bytes\": 0, \"mbps\": 13.837488888888888, \"transferred"
	"\": 622687, \"dirty-sync-missed-zero-copy\": 0, \"precopy-bytes\""
	": 0, \"duplicate\": 32847, \"dirty-pages-rate\": 0, \"normal-byte"
	"s\": 208896, \"normal\": 51}}";

json_t *sim_default_mig_params(void)
{
	return json_loads(mig_params_json, 0, NULL);
}

/* "setup-time" goes second, as QEMU prints it */
json_t *sim_migrate_completed_info(enum sim_build b, int setup_time)
{
	json_t *src = json_loads(b == SIM_BUILD_QEMU10_BROKEN ?
				 completed10_json : completed72_json, 0, NULL);
	json_t *out = json_object();
	const char *k;
	json_t *v;
	bool first = true;

	json_object_foreach(src, k, v) {
		json_object_set(out, k, v);
		if (first) {
			json_object_set_new(out, "setup-time",
					    json_integer(setup_time));
			first = false;
		}
	}
	json_decref(src);
	return out;
}
