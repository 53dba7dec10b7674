/*
 * fsm_table.c: the VM table of the decision core.  Slots live in chunks of
 * FSM_VM_CHUNK allocated on first use, so a slot never used costs neither
 * memory nor loop time (loops stop at the high-water mark n_slots), and a
 * name index (open addressing, linear probing) finds a VM without scanning
 * the slots.  A freed slot is reused lowest first, as before the table grew.
 *
 * Must not: move a VM once created (callers hold struct fsm_vm * across
 * calls that create VMs, and command tags and timers name the slot), leave
 * tombstones in the index (a deletion shifts the probe chain back), depend
 * on anything but the names (deterministic), do I/O, read a clock or log.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fsm_state.h"

#define INDEX_MIN 16

/* FNV-1a: cheap for short names, the same on every host and run. */
uint32_t fsm_name_hash(const char *name)
{
	uint32_t h = 2166136261u;

	for (; *name; name++) {
		h ^= (unsigned char)*name;
		h *= 16777619u;
	}
	return h;
}

struct fsm_vm *fsm_vm_find(const struct fsm *f, const char *name)
{
	unsigned mask, i;
	uint32_t h;

	if (!f->vm_index_cap || !name || strnlen(name, FSM_NAME_MAX) >= FSM_NAME_MAX)
		return NULL;
	h = fsm_name_hash(name);
	mask = f->vm_index_cap - 1;
	for (i = h & mask; f->vm_index[i]; i = (i + 1) & mask) {
		struct fsm_vm *vm = fsm_vm_at(f, f->vm_index[i] - 1);

		if (vm->hash == h && strcmp(vm->name, name) == 0)
			return vm;
	}
	return NULL;
}

static void index_put(uint32_t *idx, unsigned cap, uint32_t h, uint32_t slot)
{
	unsigned i = h & (cap - 1);

	while (idx[i])
		i = (i + 1) & (cap - 1);
	idx[i] = slot + 1;
}

/* Room for one more name at most half full; the old index stays on -ENOMEM. */
static int index_reserve(struct fsm *f)
{
	unsigned cap = f->vm_index_cap ? f->vm_index_cap : INDEX_MIN;
	uint32_t *idx;

	while ((f->n_vms + 1) * 2 > cap)
		cap *= 2;
	if (cap == f->vm_index_cap)
		return 0;
	idx = calloc(cap, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	for (unsigned i = 0; i < f->vm_index_cap; i++)
		if (f->vm_index[i])
			index_put(idx, cap, fsm_vm_at(f, f->vm_index[i] - 1)->hash,
				  f->vm_index[i] - 1);
	free(f->vm_index);
	f->vm_index = idx;
	f->vm_index_cap = cap;
	return 0;
}

/* Backward-shift deletion: every name stays reachable from its home cell
 * without a tombstone, so lookups never slow down after removals. */
static void index_del(struct fsm *f, const struct fsm_vm *vm)
{
	unsigned mask = f->vm_index_cap - 1, i, j, home;

	for (i = vm->hash & mask; f->vm_index[i] != vm->slot + 1; i = (i + 1) & mask)
		if (!f->vm_index[i])
			return; /* not indexed: cannot happen */
	for (j = i;;) {
		j = (j + 1) & mask;
		if (!f->vm_index[j])
			break;
		home = fsm_vm_at(f, f->vm_index[j] - 1)->hash & mask;
		/* the entry at j may fill the hole at i unless its home lies
		 * cyclically in (i, j] */
		if (i <= j ? (home > i && home <= j) : (home > i || home <= j))
			continue;
		f->vm_index[i] = f->vm_index[j];
		i = j;
	}
	f->vm_index[i] = 0;
}

int fsm_vm_create(struct fsm *f, const char *name, struct fsm_vm **vmp)
{
	unsigned slot;
	struct fsm_vm *vm;
	int rc;

	*vmp = NULL;
	if (f->n_vms >= FSM_MAX_VMS)
		return -ENOSPC;
	slot = f->n_slots;
	if (f->n_vms < f->n_slots)
		for (slot = f->free_lo; fsm_vm_at(f, slot)->used; slot++)
			;
	if (!f->vm_chunk[slot / FSM_VM_CHUNK]) {
		f->vm_chunk[slot / FSM_VM_CHUNK] =
			calloc(FSM_VM_CHUNK, sizeof(struct fsm_vm));
		if (!f->vm_chunk[slot / FSM_VM_CHUNK])
			return -ENOMEM;
	}
	rc = index_reserve(f);
	if (rc)
		return rc;
	vm = fsm_vm_at(f, slot);
	memset(vm, 0, sizeof(*vm));
	vm->used = true;
	vm->slot = slot;
	fsm_name_copy(vm->name, name, sizeof(vm->name));
	fsm_name_copy(vm->p.vm, name, sizeof(vm->p.vm));
	vm->hash = fsm_name_hash(vm->name);
	index_put(f->vm_index, f->vm_index_cap, vm->hash, slot);
	f->n_vms++;
	f->free_lo = slot + 1;
	if (slot == f->n_slots)
		f->n_slots++;
	*vmp = vm;
	return 0;
}

int fsm_vm_set_yank(struct fsm_vm *vm, const char (*names)[FSM_YANK_NAME_MAX], unsigned n)
{
	size_t len[FSM_YANK_MAX], total = 0;
	char *list = NULL, *p;

	if (n > FSM_YANK_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		len[i] = strnlen(names[i], FSM_YANK_NAME_MAX - 1);
		total += len[i] + 1;
	}
	if (total > sizeof(vm->yank_in)) {
		list = malloc(total);
		if (!list)
			return -ENOMEM;
	}
	free(vm->yank);
	vm->yank = list;
	vm->n_yank = n;
	/* zeroed: a re-derivation compares whole VMs (memcmp) */
	memset(vm->yank_in, 0, sizeof(vm->yank_in));
	p = list ? list : vm->yank_in;
	for (unsigned i = 0; i < n; i++) {
		memcpy(p, names[i], len[i]);
		p[len[i]] = '\0';
		p += len[i] + 1;
	}
	return 0;
}

const char *fsm_vm_yank_list(const struct fsm_vm *vm)
{
	return vm->yank ? vm->yank : vm->yank_in;
}

void fsm_vm_yank_names(const struct fsm_vm *vm, char (*names)[FSM_YANK_NAME_MAX])
{
	const char *p = fsm_vm_yank_list(vm);

	for (unsigned i = 0; i < vm->n_yank; i++) {
		fsm_name_copy(names[i], p, FSM_YANK_NAME_MAX);
		p += strlen(p) + 1;
	}
}

void fsm_vm_remove(struct fsm *f, struct fsm_vm *vm)
{
	if (!vm->used)
		return;
	index_del(f, vm);
	fsm_vm_set_yank(vm, NULL, 0);
	fsm_tracks_clear(vm);
	vm->used = false;
	f->n_vms--;
	if (vm->slot < f->free_lo)
		f->free_lo = vm->slot;
	/* the loops get shorter again; the chunks stay for the next VM */
	while (f->n_slots && !fsm_vm_at(f, f->n_slots - 1)->used)
		f->n_slots--;
	if (f->free_lo > f->n_slots)
		f->free_lo = f->n_slots;
}

void fsm_table_free(struct fsm *f)
{
	for (unsigned c = 0; c < FSM_MAX_VMS / FSM_VM_CHUNK; c++) {
		for (unsigned i = 0; f->vm_chunk[c] && i < FSM_VM_CHUNK; i++) {
			free(f->vm_chunk[c][i].yank);
			free(f->vm_chunk[c][i].tr);
		}
		free(f->vm_chunk[c]);
	}
	free(f->vm_index);
}
