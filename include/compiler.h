/*
 * compiler.h: small portable helpers shared by every module.
 * Nothing here does I/O or reads a clock.
 */
#ifndef COLO_ARBITER_COMPILER_H
#define COLO_ARBITER_COMPILER_H

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#define ATTR_UNUSED __attribute__((unused))
#define ATTR_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define ATTR_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define ATTR_UNUSED
#define ATTR_PRINTF(fmt, args)
#define ATTR_WARN_UNUSED
#endif

#endif
