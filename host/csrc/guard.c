/*
 * The only part of crash catching that cannot be written in Rust: a function that
 * returns twice. `sigsetjmp` must be called from a frame that stays live until the jump,
 * and Rust cannot call it soundly (the compiler does not know it returns twice). Here it
 * is called inside `hotdev_guarded_call`, whose callers, Rust included, see an ordinary
 * function that returns once: 0 when `f` returned, 1 when a signal handler jumped back.
 *
 * Unix only (see host/src/crash.rs); Windows uses structured exception handling instead
 * (docs/crash-recovery.md).
 */
#include <setjmp.h>
#include <stddef.h>

/*
 * Calls `f(data)`. Before the call, stores the address of a jump buffer in `*env_slot`;
 * a signal handler on this thread may pass it to `hotdev_jump` while `f` runs. Clears
 * the slot after `f` returns. Returns 1 when a jump came back, 0 otherwise.
 *
 * The mask is not saved (`savemask` 0: no system call per call); the caller unblocks the
 * caught signal after a jump.
 */
int hotdev_guarded_call(void (*f)(void *), void *data, void *volatile *env_slot) {
    sigjmp_buf env;
    if (sigsetjmp(env, 0) != 0) {
        *env_slot = NULL;
        return 1;
    }
    *env_slot = (void *)&env;
    f(data);
    *env_slot = NULL;
    return 0;
}

/* Jumps back into the `hotdev_guarded_call` frame that published `env`. */
void hotdev_jump(void *env) {
    siglongjmp(*(sigjmp_buf *)env, 1);
}
