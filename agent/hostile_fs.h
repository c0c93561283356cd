/*
 * hostile_fs.h: test builds only (MK_TESTING): the filesystem half of the "hostile network
 * process".  With MSKPKI_TEST_HOSTILE=<attack>[,<attack>...] the network process, once fully
 * sandboxed, tries what a compromised one would try against the files the supervisor trusts,
 * and logs one line per attack:
 *     event=hostile attack=<name> result=refused|accepted errno=<n> path=<path>
 * Attacks (each leaves nothing changed when it succeeds: what it created it removes):
 *     hook_write     open a hook program for writing (O_WRONLY|O_APPEND, nothing written)
 *     hook_dir       create a file next to a hook program
 *     config_write   open the configuration file for writing
 *     shm_create     create a file in /dev/shm
 *     tmp_create     create a file in /tmp
 *     setuid_root    setuid(0)
 *     state_create   create a file in state_dir: the control, must be accepted
 *     fs_all         all of the above
 * The release build compiles none of it (tests/agent/check_release_objects.py).
 */
#ifndef AGENT_HOSTILE_FS_H
#define AGENT_HOSTILE_FS_H

#include "conf/conf.h"

#ifdef MK_TESTING
/* Runs the attacks named in attack (comma-separated).  Returns 1 when it recognised at least
 * one of them, else 0 (the other attack tables may know them). */
int agent_hostile_fs_run(const char *attack, const struct conf *cfg);
#endif

#endif
