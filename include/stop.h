// stop.h: how a training run (train.c, net_train.c) is asked to stop. The first SIGINT,
// SIGTERM or SIGHUP sets stop_signal, and the loop stops after its step with a checkpoint;
// a second one, while that is underway (a slow step, the checkpoint's write), removes the
// temporary file of a save in progress and the lock files, then takes the default action
// at once (the atomic save leaves the previous checkpoint intact). SIGPIPE and SIGXFSZ are
// ignored for the whole run: a closed stdout then shows as EPIPE, a file-size limit as
// EFBIG on the write that crosses it, each handled where the write is.
#ifndef MAKEMORE_STOP_H
#define MAKEMORE_STOP_H

#include <signal.h>

extern volatile sig_atomic_t stop_signal;  // 0, or the first stop signal caught

// catch_them = 1: the handlers above; 0: SIGINT/SIGTERM/SIGHUP back to their defaults.
void stop_signals_catch(int catch_them);

#endif
