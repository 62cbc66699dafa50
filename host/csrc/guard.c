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
 * The jump buffer. On x86-64 with GCC or Clang, the compiler's own `__builtin_setjmp`: it
 * saves the frame pointer, the stack pointer and the resume address (the function that
 * calls it saves every callee-saved register in its prologue), where glibc's `sigsetjmp`
 * is a call through the PLT that saves and mangles eight registers and checks for a
 * shadow stack: about a third of what a guarded call cost. Both are left the same way
 * from the handler, without restoring the signal mask. Elsewhere, and when built for
 * CET shadow stacks (`-fcf-protection`, which defines `__CET__`: the builtin jump would
 * leave the shadow stack behind, glibc's unwinds it), `sigsetjmp`.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__CET__)
#define HOTDEV_BUILTIN_JUMP 1
typedef void *hotdev_env[5];
#define HOTDEV_SETJMP(env) __builtin_setjmp(env)
#define HOTDEV_LONGJMP(env) __builtin_longjmp(env, 1)
#else
typedef sigjmp_buf hotdev_env;
#define HOTDEV_SETJMP(env) sigsetjmp(env, 0)
#define HOTDEV_LONGJMP(env) siglongjmp(env, 1)
#endif

/*
 * Calls `f(data)`. Before the call, stores the address of a jump buffer in `*env_slot`;
 * a signal handler on this thread may pass it to `hotdev_jump` while `f` runs. Clears
 * the slot after `f` returns. Returns 1 when a jump came back, 0 otherwise.
 *
 * The mask is not saved (no system call per call); the caller unblocks the caught
 * signal after a jump.
 */
__attribute__((noinline)) int hotdev_guarded_call(void (*f)(void *), void *data,
                                                  void *volatile *env_slot) {
    hotdev_env env;
    if (HOTDEV_SETJMP(env) != 0) {
        *env_slot = NULL;
        return 1;
    }
    *env_slot = (void *)&env;
    f(data);
    *env_slot = NULL;
    return 0;
}

/* Jumps back into the `hotdev_guarded_call` frame that published `env`. */
__attribute__((noinline)) void hotdev_jump(void *env) {
    HOTDEV_LONGJMP(*(hotdev_env *)env);
}
