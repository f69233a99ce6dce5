#ifndef DTD_FORK_H
#define DTD_FORK_H

/* Whether this process is a fork() child of the process that loaded libdtd (1) or that process
 * itself (0). The Swift runtime's locks cache each thread's kernel id, so in a child the thread
 * that called fork() holds a stale id, and a lock it shares with another thread can deadlock
 * (a priority-inheritance futex owned by a thread of the parent). The worker pool asks this and
 * keeps a child's work on its calling thread. Hidden: libdtd's own, not part of its C ABI
 * (Tests/abi/check_abi.py wants exactly the header's functions exported). */
__attribute__((visibility("hidden"))) int dtd_fork_is_child(void);

#endif
