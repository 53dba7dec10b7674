/*
 * loop_wait.h: runs a libqb loop in a test until a condition holds or a deadline passes.
 * Shared by every test that drives an I/O module on a qb_loop; deadlines are seconds,
 * because the machine is noisy.
 */
#ifndef COLO_ARBITER_TEST_LOOP_WAIT_H
#define COLO_ARBITER_TEST_LOOP_WAIT_H

#include <qb/qbloop.h>
#include <stdbool.h>

/*
 * Runs loop until cond(arg) is true (checked before the first iteration and then every
 * 2 ms) or secs pass. Returns true once cond was seen true (it is not asked again:
 * a condition may consume what it tests, e.g. waitpid); with cond NULL it just runs
 * secs and returns true. Must not be nested.
 */
bool loop_wait(qb_loop_t *loop, bool (*cond)(void *arg), void *arg, double secs);

#endif
