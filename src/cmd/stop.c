// stop.c: the training runs' stop signals (stop.h).
#include "stop.h"

#include <string.h>

#include "outfile.h"
#include "safetensors.h"

volatile sig_atomic_t stop_signal = 0;

static void on_signal(int sig) {
    if (stop_signal) {
        st_remove_temp_signal_safe();
        outfile_unlock_signal_safe();
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    stop_signal = sig;
}

void stop_signals_catch(int catch_them) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = catch_them ? on_signal : SIG_DFL;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);
}
