/*
 * sim_sched.c: schedules for the simulator: random ones drawn from a seed
 * (a general profile, and profiles biased towards the faults each
 * mechanism of SAFETY.md closes), and the ten adversarial schedules of
 * SAFETY.md §6 as fixed scripts.
 *
 * Must not: depend on anything but the seed (same seed, same schedule).
 */
#include <stdio.h>
#include <string.h>

#include "sim.h"

const char *sim_fault_to_str(enum sim_fault_kind k)
{
	static const char *const n[SF_KIND_COUNT] = {
		"partition", "heal", "power-off", "power-on", "corosync-stall",
		"corosync-crash", "arbiter-crash", "arbiter-leave", "qemu-kill",
		"migration-reset", "qmp-hangup", "resync", "corosync-crash-after-lhb",
		"power-off-after-lhb",
	};

	return (unsigned)k < SF_KIND_COUNT ? n[k] : "?";
}

const char *sim_profile_to_str(enum sim_profile p)
{
	static const char *const n[SP_COUNT] = {
		"general", "quorum_gate", "ring_id_agreement", "fence_wait",
		"procdown_guard", "own_liveness", "epoch_cas", "eligibility",
		"freeze_confirm", "yank_first", "watchdog",
	};

	return (unsigned)p < SP_COUNT ? n[p] : "?";
}

static void params_default(struct sim_params *p)
{
	memset(p, 0, sizeof(*p));
	p->nodes = 3;
	p->vms = 1;
	p->vm_p[0] = 1;
	p->vm_s[0] = 2;
	p->policy = FSM_FENCE_PACEMAKER;
	p->quorum_delay_max = 2;
	p->fence_fast_max = 3000;
}

static struct sim_fault *add(struct sim_schedule *s, int64_t at,
			     enum sim_fault_kind k, unsigned node, unsigned vm,
			     int64_t dur)
{
	struct sim_fault *f;

	if (s->n >= SIM_FAULTS)
		return NULL;
	f = &s->f[s->n++];
	memset(f, 0, sizeof(*f));
	f->at = at;
	f->kind = k;
	f->node = (uint8_t)node;
	f->vm = (uint8_t)vm;
	f->dur = dur;
	return f;
}

/* a partition cutting `alone` (bitmask of 1-based node bits) off */
static void add_cut(struct sim_schedule *s, int64_t at, uint32_t alone)
{
	struct sim_fault *f = add(s, at, SF_PARTITION, 0, 0, 0);

	if (!f)
		return;
	for (unsigned j = 0; j < s->p.nodes; j++)
		f->groups[j] = (alone >> (j + 1)) & 1;
}

static void random_partition(struct sim_rng *r, struct sim_schedule *s, int64_t at)
{
	struct sim_fault *f = add(s, at, SF_PARTITION, 0, 0, 0);
	unsigned ngroups = sim_rng_chance(r, 200) && s->p.nodes >= 3 ? 3 : 2;
	bool used[3] = { false, false, false };

	if (!f)
		return;
	do {
		used[0] = used[1] = used[2] = false;
		for (unsigned j = 0; j < s->p.nodes; j++) {
			f->groups[j] = (uint8_t)sim_rng_range(r, 0, ngroups - 1);
			used[f->groups[j]] = true;
		}
	} while (!used[0] || !used[1]);
}

static void random_config(struct sim_rng *r, struct sim_params *p)
{
	unsigned roll = (unsigned)sim_rng_range(r, 0, 99);

	params_default(p);
	p->nodes = roll < 15 ? 2 : roll < 70 ? 3 : roll < 85 ? 4 : 5;
	p->two_node = p->nodes == 2 && !sim_rng_chance(r, 150);
	p->policy = !p->two_node && sim_rng_chance(r, 500) ? FSM_FENCE_SELF :
		    FSM_FENCE_PACEMAKER;
	p->vms = (unsigned)sim_rng_range(r, 1, 3);
	for (unsigned v = 0; v < p->vms; v++) {
		p->vm_p[v] = (uint8_t)sim_rng_range(r, 1, p->nodes);
		do
			p->vm_s[v] = (uint8_t)sim_rng_range(r, 1, p->nodes);
		while (p->vm_s[v] == p->vm_p[v]);
	}
	p->freeze_colo_primaries = false; /* see README: frozen COLO primaries */
	p->msg_loss_pm = sim_rng_chance(r, 300) ? (unsigned)sim_rng_range(r, 5, 30) : 0;
	p->fence_fail_pm = sim_rng_chance(r, 300) ? (unsigned)sim_rng_range(r, 100, 300) : 0;
	p->fence_slow_pm = sim_rng_chance(r, 150) ? (unsigned)sim_rng_range(r, 100, 400) : 0;
}

static void random_fault(struct sim_rng *r, struct sim_schedule *s, int64_t at)
{
	static const unsigned weight[] = {
		[SF_PARTITION] = 20, [SF_HEAL] = 8, [SF_POWER_OFF] = 12,
		[SF_POWER_ON] = 3, [SF_STALL] = 5, [SF_CS_CRASH] = 6,
		[SF_ARB_CRASH] = 10, [SF_ARB_LEAVE] = 2, [SF_QEMU_KILL] = 10,
		[SF_RESET] = 10, [SF_QMP_DROP] = 6, [SF_RESYNC] = 6,
		[SF_CS_CRASH_AFTER_LHB] = 2, [SF_POWER_AFTER_LHB] = 2,
	};
	unsigned total = 0, pick;
	enum sim_fault_kind k = SF_PARTITION;
	unsigned node = (unsigned)sim_rng_range(r, 1, s->p.nodes);
	unsigned vm = (unsigned)sim_rng_range(r, 0, s->p.vms - 1);

	for (unsigned i = 0; i < SF_KIND_COUNT; i++)
		total += weight[i];
	pick = (unsigned)sim_rng_range(r, 0, total - 1);
	for (unsigned i = 0; i < SF_KIND_COUNT; i++) {
		if (pick < weight[i]) {
			k = (enum sim_fault_kind)i;
			break;
		}
		pick -= weight[i];
	}
	/* most faults hit a node of some pair */
	if (sim_rng_chance(r, 700))
		node = sim_rng_chance(r, 500) ? s->p.vm_p[vm] : s->p.vm_s[vm];
	switch (k) {
	case SF_PARTITION:
		random_partition(r, s, at);
		return;
	case SF_STALL:
		add(s, at, k, node, vm, sim_rng_chance(r, 500) ?
		    sim_rng_range(r, 35000, 58000) : sim_rng_range(r, 6000, 20000));
		return;
	case SF_CS_CRASH:
		add(s, at, k, node, vm, sim_rng_range(r, 1000, 5000));
		return;
	case SF_ARB_CRASH:
		add(s, at, k, node, vm,
		    sim_rng_chance(r, 150) ? sim_rng_range(r, 5000, 15000) :
		    sim_rng_range(r, 200, 3000));
		return;
	case SF_ARB_LEAVE:
		add(s, at, k, node, vm, 0);
		add(s, at + sim_rng_range(r, 0, 2000), SF_POWER_OFF, node, vm, 0);
		return;
	case SF_QMP_DROP:
		add(s, at, k, node, vm, sim_rng_range(r, 5, 500));
		return;
	case SF_CS_CRASH_AFTER_LHB:
	case SF_POWER_AFTER_LHB:
		add(s, at, k, node, vm, sim_rng_range(r, 0, 20));
		return;
	default:
		add(s, at, k, node, vm, 0);
		return;
	}
}

static void sort_faults(struct sim_schedule *s)
{
	for (unsigned i = 1; i < s->n; i++)
		for (unsigned j = i; j > 0 && s->f[j].at < s->f[j - 1].at; j--) {
			struct sim_fault t = s->f[j];

			s->f[j] = s->f[j - 1];
			s->f[j - 1] = t;
		}
}

static void one_pair(struct sim_params *p, enum fsm_fence_policy pol)
{
	params_default(p);
	p->policy = pol;
}

void sim_schedule_random(struct sim_schedule *s, uint64_t seed,
			 enum sim_profile prof)
{
	struct sim_rng r;
	unsigned nf;
	enum fsm_fence_policy pol;
	unsigned pn;

	memset(s, 0, sizeof(*s));
	s->seed = seed;
	sim_rng_seed(&r, seed);
	pol = sim_rng_chance(&r, 500) ? FSM_FENCE_SELF : FSM_FENCE_PACEMAKER;
	switch (prof) {
	case SP_EPOCH_CAS:
		/* C1: cut P off, S takes over (self), heal: a stale P proposes
		 * out of an n the others have passed */
		one_pair(&s->p, FSM_FENCE_SELF);
		add_cut(s, sim_rng_range(&r, 0, 1000), 1u << 1);
		add(s, sim_rng_range(&r, 14000, 30000), SF_HEAL, 0, 0, 0);
		if (sim_rng_chance(&r, 300))
			random_fault(&r, s, sim_rng_range(&r, 0, 30000));
		break;
	case SP_GENERAL:
		random_config(&r, &s->p);
		nf = (unsigned)sim_rng_range(&r, 1, 4);
		for (unsigned k = 0; k < nf; k++)
			random_fault(&r, s, sim_rng_range(&r, 0, 12000));
		break;
	case SP_QUORUM_GATE:
	case SP_FENCE_WAIT:
	case SP_YANK_FIRST:
		one_pair(&s->p, pol);
		/* cut one node of the pair (or the witness) off, or power it off */
		pn = prof == SP_YANK_FIRST ? 2 : (unsigned)sim_rng_range(&r, 1, 3);
		if (sim_rng_chance(&r, 500))
			add_cut(s, sim_rng_range(&r, 0, 2000), 1u << pn);
		else
			add(s, sim_rng_range(&r, 0, 2000), SF_POWER_OFF, pn, 0, 0);
		if (sim_rng_chance(&r, 300))
			random_fault(&r, s, sim_rng_range(&r, 0, 12000));
		break;
	case SP_RING_ID:
		one_pair(&s->p, FSM_FENCE_PACEMAKER);
		s->p.quorum_slow_pm = 1000;
		s->p.fence_fast_max = 800;
		add_cut(s, sim_rng_range(&r, 0, 2000), 1u << sim_rng_range(&r, 1, 2));
		break;
	case SP_PROCDOWN:
		one_pair(&s->p, pol);
		nf = (unsigned)sim_rng_range(&r, 1, 3);
		for (unsigned k = 0; k < nf; k++)
			add(s, sim_rng_range(&r, 0, 8000), SF_ARB_CRASH,
			    (unsigned)sim_rng_range(&r, 1, 3), 0, sim_rng_range(&r, 200, 3000));
		break;
	case SP_OWN_LIVENESS:
		one_pair(&s->p, pol);
		/* make the primary solo, then stall its corosync */
		if (sim_rng_chance(&r, 500))
			add(s, 0, SF_QEMU_KILL, 2, 0, 0);
		else
			add(s, 0, SF_RESET, 1, 0, 0);
		add(s, sim_rng_range(&r, 500, 3000), SF_STALL, 1, 0,
		    sim_rng_range(&r, 35000, 58000));
		break;
	case SP_WATCHDOG:
		/* P solo, its corosync stalls, its arbiter dies before the
		 * freeze: only the device stops P before S takes over */
		one_pair(&s->p, FSM_FENCE_SELF);
		add(s, 0, SF_RESET, 1, 0, 0);
		pn = (unsigned)sim_rng_range(&r, 500, 3000);
		add(s, pn, SF_STALL, 1, 0, sim_rng_range(&r, 35000, 58000));
		add(s, pn + sim_rng_range(&r, 0, 5000), SF_ARB_CRASH, 1, 0,
		    sim_rng_range(&r, 200, 20000));
		break;
	case SP_ELIGIBILITY:
		one_pair(&s->p, FSM_FENCE_PACEMAKER);
		if (sim_rng_chance(&r, 500)) {
			add(s, 0, SF_RESET, 1, 0, 0);
			add(s, 0, SF_POWER_AFTER_LHB, 1, 0, sim_rng_range(&r, 0, 20));
		} else {
			add_cut(s, 0, 1u << 2);
			add_cut(s, sim_rng_range(&r, 5000, 60000), 1u << 1);
		}
		break;
	case SP_FREEZE_CONFIRM:
		one_pair(&s->p, FSM_FENCE_PACEMAKER);
		add(s, 0, SF_POWER_OFF, 1, 0, 0);
		add(s, 0, SF_CS_CRASH_AFTER_LHB, 2, 0, sim_rng_range(&r, 0, 14));
		break;
	case SP_COUNT:
		break;
	}
	/* Pacemaker's fencing needs no watchdog, and production's default has
	 * none: half of those schedules run without one, so that its resets
	 * cannot hide what the arbiter must do by itself.  Drawn from the seed,
	 * not from r, so that every seed keeps the faults it always had. */
	if (prof == SP_GENERAL && s->p.policy == FSM_FENCE_PACEMAKER &&
	    (seed * 0x9e3779b97f4a7c15ull) >> 63)
		s->p.disable |= SIM_NO_WATCHDOG;
	sort_faults(s);
}

bool sim_schedule_fixed(struct sim_schedule *s, unsigned i)
{
	memset(s, 0, sizeof(*s));
	s->seed = 0xc0105a5eULL + i;
	params_default(&s->p);
	switch (i) {
	case 1:
		s->name = "s6-01 rolling partition (C2b)";
		add_cut(s, 0, 1u << 2);
		add_cut(s, 60000, 1u << 1);
		break;
	case 2:
		s->name = "s6-02 reset then death, power off 5 ms after P's failover (C2a)";
		add(s, 0, SF_RESET, 1, 0, 0);
		add(s, 0, SF_POWER_AFTER_LHB, 1, 0, 5);
		break;
	case 3:
		s->name = "s6-03 heal after takeover (C1), self, P frozen then COLO_EXIT";
		s->p.policy = FSM_FENCE_SELF;
		s->p.freeze_colo_primaries = true;
		add_cut(s, 0, 1u << 1);
		add(s, 25000, SF_HEAL, 0, 0, 0);
		break;
	case 4:
		s->name = "s6-04 egress-only drop on P's node, 45 s corosync stall (self)";
		s->p.policy = FSM_FENCE_SELF;
		add(s, 0, SF_STALL, 1, 0, 45000);
		break;
	case 5:
		s->name = "s6-05 witness death (H1): v stays in COLO";
		add(s, 0, SF_POWER_OFF, 3, 0, 0);
		break;
	case 6:
		s->name = "s6-06 two_node: mutual fencing with delays (pacemaker)";
		s->p.nodes = 2;
		s->p.two_node = true;
		add_cut(s, 0, 1u << 1);
		break;
	case 7:
		s->name = "s6-07 flap: NODEUP 1.5 s after NODEDOWN, fence lands after the rejoin";
		s->p.fence_slow_pm = 1000;
		add_cut(s, 0, 1u << 1);
		add(s, 3600, SF_HEAL, 0, 0, 0);
		add_cut(s, 12000, 1u << 1);
		add(s, 16000, SF_HEAL, 0, 0, 0);
		break;
	case 8:
		s->name = "s6-08 freeze vs in-flight failover: S's gate closes before RESUME";
		add(s, 0, SF_POWER_OFF, 1, 0, 0);
		add(s, 0, SF_CS_CRASH_AFTER_LHB, 2, 0, 14);
		break;
	case 9:
		s->name = "s6-09 arbiter left first (LEAVE), then n1 powered off";
		add(s, 0, SF_ARB_LEAVE, 1, 0, 0);
		add(s, 500, SF_POWER_OFF, 1, 0, 0);
		break;
	case 10:
		s->name = "s6-10 both directions + 60 s fence; n2 cut off mid-fence; b's reply lost";
		s->p.vms = 3;
		s->p.vm_p[0] = 1; s->p.vm_s[0] = 2; /* a: n1 -> n2 */
		s->p.vm_p[1] = 2; s->p.vm_s[1] = 1; /* b: n2 -> n1 */
		s->p.vm_p[2] = 2; s->p.vm_s[2] = 3; /* c: n2 -> n3 */
		s->p.fence_slow_pm = 1000;
		add(s, 0, SF_POWER_OFF, 1, 0, 0);
		add(s, 3450, SF_QMP_DROP, 2, 1, 40);
		add_cut(s, 20000, 1u << 2);
		break;
	/* variants */
	case 11:
		s->name = "s6-02b reset then death, 1 ms";
		add(s, 0, SF_RESET, 1, 0, 0);
		add(s, 0, SF_POWER_AFTER_LHB, 1, 0, 1);
		break;
	case 12:
		s->name = "s6-02c reset then death, 20 ms";
		add(s, 0, SF_RESET, 1, 0, 0);
		add(s, 0, SF_POWER_AFTER_LHB, 1, 0, 20);
		break;
	case 13:
		s->name = "s6-03b heal after takeover, n1's arbiter restarts while cut off";
		s->p.policy = FSM_FENCE_SELF;
		s->p.freeze_colo_primaries = true;
		add_cut(s, 0, 1u << 1);
		add(s, 6000, SF_ARB_CRASH, 1, 0, 1000);
		add(s, 25000, SF_HEAL, 0, 0, 0);
		break;
	case 14:
		s->name = "s6-04b egress-only drop on P's node (pacemaker)";
		add(s, 0, SF_STALL, 1, 0, 45000);
		break;
	case 15:
		s->name = "s6-09b S's arbiter restarts after the NODEDOWN";
		add(s, 0, SF_ARB_LEAVE, 1, 0, 0);
		add(s, 500, SF_POWER_OFF, 1, 0, 0);
		add(s, 5000, SF_ARB_CRASH, 2, 0, 1000);
		break;
	case 16:
		s->name = "s6-09c P's arbiter crash-loops while P's QEMU dies";
		add(s, 0, SF_ARB_CRASH, 1, 0, 300);
		add(s, 2000, SF_ARB_CRASH, 1, 0, 300);
		add(s, 2100, SF_QEMU_KILL, 1, 0, 0);
		break;
	case 17:
		s->name = "s6-06b two_node: self refused (checked by fsm_config_check)";
		s->p.nodes = 2;
		s->p.two_node = true;
		add(s, 0, SF_POWER_OFF, 2, 0, 0);
		break;
	default:
		return false;
	}
	sort_faults(s);
	return true;
}

void sim_schedule_print(const struct sim_schedule *s)
{
	const struct sim_params *p = &s->p;

	printf("# schedule seed=%llu%s%s: %u nodes%s, policy %s, disable=%#x%s%s\n",
	       (unsigned long long)s->seed, s->name ? " " : "", s->name ? s->name : "",
	       p->nodes, p->two_node ? " (two_node)" : "",
	       fsm_fence_policy_to_str(p->policy), p->disable,
	       p->disable & SIM_NO_WATCHDOG ? " (no watchdog)" : "",
	       p->freeze_colo_primaries ? ", freeze_colo_primaries" : "");
	printf("#   TRY_AGAIN %u/1000, quorum delay <=%lld ms (slow %u/1000), fences: "
	       "fail %u/1000, slow %u/1000, fast <=%lld ms\n", p->msg_loss_pm,
	       (long long)p->quorum_delay_max, p->quorum_slow_pm, p->fence_fail_pm,
	       p->fence_slow_pm, (long long)p->fence_fast_max);
	for (unsigned v = 0; v < p->vms; v++)
		printf("#   v%u: primary n%u, secondary n%u\n", v, p->vm_p[v], p->vm_s[v]);
	for (unsigned k = 0; k < s->n; k++) {
		const struct sim_fault *f = &s->f[k];

		printf("#   +%6.3f s %s", (double)f->at / 1000.0, sim_fault_to_str(f->kind));
		if (f->kind == SF_PARTITION) {
			printf(" {");
			for (unsigned g = 0; g < 3; g++) {
				bool any = false;

				for (unsigned j = 0; j < p->nodes; j++)
					if (f->groups[j] == g) {
						printf("%sn%u", any ? "," : (g ? "}|{" : ""), j + 1);
						any = true;
					}
			}
			printf("}");
		} else if (f->kind != SF_HEAL) {
			printf(" n%u", f->node);
		}
		if (f->kind == SF_QEMU_KILL || f->kind == SF_RESET ||
		    f->kind == SF_RESYNC || f->kind == SF_QMP_DROP)
			printf(" v%u", f->vm);
		if (f->dur)
			printf(" (%lld ms)", (long long)f->dur);
		printf("\n");
	}
}
