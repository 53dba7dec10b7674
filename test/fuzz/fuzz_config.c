/*
 * fuzz_config.c: libFuzzer target for the configuration parsers. The first
 * input byte picks colo-arbiter.conf, a VM file, or vm-add JSON; the rest is
 * the text. Besides crashes, sanitizer reports and leaks, a finding is any
 * accepted input whose canonical print does not parse back to the same
 * print (abort()), or a VM that does not survive the vm-add JSON round trip.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_main(const char *text, size_t len)
{
	struct arb_config c, c2;
	struct config_error err;
	struct fsm_config f;
	char *p, *p2;

	if (config_parse(text, len, "fuzz.conf", &c, &err) != 0)
		return;
	p = config_print(&c);
	if (!p)
		return;
	if (config_parse(p, strlen(p), "fuzz.conf", &c2, &err) != 0)
		abort(); /* canonical output must parse */
	p2 = config_print(&c2);
	if (!p2 || strcmp(p, p2) != 0)
		abort();
	config_to_fsm(&c, 1, 0, false, &f);
	(void)config_check_cluster(&c, 1, 3, true, false, &err);
	(void)config_log_priority(&c);
	free(p);
	free(p2);
}

static void check_vm(struct arb_vm_config *vm)
{
	struct arb_vm_config vm2, vm3;
	struct config_error err;
	json_t *j;
	char *p, *p2;

	p = config_vm_print(vm);
	if (!p)
		return;
	if (config_vm_parse(p, strlen(p), "fuzz.conf", &vm2, &err) != 0)
		abort();
	p2 = config_vm_print(&vm2);
	if (!p2 || strcmp(p, p2) != 0 || !config_vm_equal(vm, &vm2))
		abort();
	j = config_vm_to_json(vm);
	if (j) {
		if (config_vm_from_json(j, &vm3, &err) != 0 || !config_vm_equal(vm, &vm3))
			abort();
		config_vm_free(&vm3);
		json_decref(j);
	}
	config_vm_free(&vm2);
	free(p);
	free(p2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arb_vm_config vm;
	struct config_error err;
	const char *text;

	if (size == 0)
		return 0;
	text = (const char *)data + 1;
	size--;
	switch (data[0] % 3) {
	case 0:
		check_main(text, size);
		break;
	case 1:
		if (config_vm_parse(text, size, "fuzz.conf", &vm, &err) == 0) {
			check_vm(&vm);
			config_vm_free(&vm);
		}
		break;
	default: {
		json_error_t je;
		json_t *j = json_loadb(text, size, 0, &je);

		if (j && config_vm_from_json(j, &vm, &err) == 0) {
			check_vm(&vm);
			config_vm_free(&vm);
		}
		json_decref(j);
		break;
	}
	}
	return 0;
}
