/* Placeholder: being written (stubs so that the tree links). */
#include "monitor/monitor-internal.h"

void monitor_config_free(MonitorConfig *mc)
{
    if (mc) {
        g_free(mc->chardev);
        g_free(mc->spec);
        g_free(mc);
    }
}

bool monitor_init_all(Machine *m, GError **errp) { return true; }
void monitor_cleanup(Machine *m) {}
void qmp_event_send(Machine *m, const char *name, JsonValue *data) {}
void qmp_event_stop(Machine *m) {}
void qmp_event_resume(Machine *m) {}
void qmp_event_reset(Machine *m, bool guest, const char *reason) {}
void qmp_event_shutdown(Machine *m, bool guest, const char *reason) {}
void qmp_event_powerdown(Machine *m) {}
