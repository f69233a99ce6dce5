/* The process id at load time, so that a fork() child can tell it is one (see dtd_fork.h). */
#include "dtd_fork.h"

#include <sys/types.h>
#include <unistd.h>

static pid_t loaded_in;

__attribute__((constructor)) static void remember_loading_process(void) { loaded_in = getpid(); }

int dtd_fork_is_child(void) { return loaded_in != 0 && getpid() != loaded_in; }
