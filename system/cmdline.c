/*
 * Parses lemu's command line into a LaunchOptions. Every option with a
 * value goes through the shared QEMU-style option parser (util/opts.c), so
 * "key=value" lists, ",," escapes, implied keys, bools and sizes mean the
 * same everywhere. Options lemu does not have yet are refused by name.
 */
#include <stdio.h>
#include <string.h>
#include "lemu-config.h"
#include "system/cmdline.h"
#include "lemu/chardev/chardev.h"
#include "lemu/hw/qdev.h"
#include "lemu/monitor/monitor.h"
#include "lemu/util/log.h"

typedef struct CmdlineOption CmdlineOption;
typedef bool CmdlineHandler(LaunchOptions *lo, const char *optname,
                            const char *arg, bool *exit_ok, GError **errp);

struct CmdlineOption {
    const char *name;
    bool has_arg;
    CmdlineHandler *handler;
    const char *help;            /* "-m [size=]megs" line of -h */
};

/* Parses @arg with @implied and rejects keys outside @known. */
static LemuOpts *cmdline_opts(const char *optname, const char *arg,
                              const char *implied, const char *const *known,
                              GError **errp)
{
    LemuOpts *opts = opts_parse(optname, arg, implied, errp);

    if (opts && known && !opts_check_keys(opts, known, errp)) {
        opts_free(opts);
        return NULL;
    }
    return opts;
}

static void set_string(char **field, const char *value)
{
    g_free(*field);
    *field = g_strdup(value);
}

static bool opt_memory(LaunchOptions *lo, const char *optname,
                       const char *arg, bool *exit_ok, GError **errp)
{
    static const char *const known[] = { "size", "slots", "maxmem", NULL };
    LemuOpts *opts = cmdline_opts(optname, arg, "size", known, errp);
    const char *size;
    uint64_t bytes;
    bool ok = false;

    if (!opts) {
        return false;
    }
    if (opts_has(opts, "slots") || opts_has(opts, "maxmem")) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "%s: memory hotplug (slots, maxmem) is not supported",
                    optname);
        goto out;
    }
    size = opts_get(opts, "size");
    if (!size) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: missing size", optname);
        goto out;
    }
    /* A bare number is MiB, as in QEMU. */
    if (!parse_size(optname, size, 1ULL << 20, &bytes, errp)) {
        goto out;
    }
    if (bytes < (2ULL << 20) || bytes > (1ULL << 40)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: %s is out of range (expected 2M to 1T)", optname,
                    size);
        goto out;
    }
    lo->cfg.ram_size = bytes;
    ok = true;
out:
    opts_free(opts);
    return ok;
}

static bool opt_smp(LaunchOptions *lo, const char *optname, const char *arg,
                    bool *exit_ok, GError **errp)
{
    static const char *const known[] = {
        "cpus", "sockets", "dies", "cores", "threads", "maxcpus", NULL
    };
    LemuOpts *opts = cmdline_opts(optname, arg, "cpus", known, errp);
    uint64_t cpus, sockets, dies, cores, threads, maxcpus;
    bool ok = false;

    if (!opts) {
        return false;
    }
    if (!opts_get_u64(opts, "sockets", 1, &sockets, errp) ||
        !opts_get_u64(opts, "dies", 1, &dies, errp) ||
        !opts_get_u64(opts, "cores", 1, &cores, errp) ||
        !opts_get_u64(opts, "threads", 1, &threads, errp)) {
        goto out;
    }
    if (sockets > LEMU_MAX_VCPUS || dies > LEMU_MAX_VCPUS ||
        cores > LEMU_MAX_VCPUS || threads > LEMU_MAX_VCPUS) {
        goto range;
    }
    if (!opts_get_u64(opts, "cpus", sockets * dies * cores * threads, &cpus,
                      errp) ||
        !opts_get_u64(opts, "maxcpus", cpus, &maxcpus, errp)) {
        goto out;
    }
    if (cpus < 1 || cpus > LEMU_MAX_VCPUS) {
        goto range;
    }
    if (maxcpus != cpus) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "%s: CPU hotplug (maxcpus > cpus) is not supported",
                    optname);
        goto out;
    }
    lo->cfg.smp = cpus;
    ok = true;
    goto out;
range:
    g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                "%s: %s: expected 1 to %d CPUs", optname, arg,
                LEMU_MAX_VCPUS);
out:
    opts_free(opts);
    return ok;
}

/* Accelerators are kept as QEMU's "kvm:tcg" fallback list. */
static bool add_accel(LaunchOptions *lo, const char *optname,
                      const char *list, GError **errp)
{
    g_auto(GStrv) names = g_strsplit(list, ":", -1);

    for (char **n = names; *n; n++) {
        if (strcmp(*n, "kvm") && strcmp(*n, "interp") && strcmp(*n, "tcg")) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "%s: unknown accelerator '%s' (expected kvm, interp "
                        "or tcg)", optname, *n);
            return false;
        }
    }
    if (lo->cfg.accel) {
        char *joined = g_strconcat(lo->cfg.accel, ":", list, NULL);
        g_free(lo->cfg.accel);
        lo->cfg.accel = joined;
    } else {
        lo->cfg.accel = g_strdup(list);
    }
    return true;
}

static bool opt_accel(LaunchOptions *lo, const char *optname, const char *arg,
                      bool *exit_ok, GError **errp)
{
    static const char *const known[] = { "accel", NULL };
    LemuOpts *opts;
    bool ok;

    if (strcmp(arg, "help") == 0) {
        printf("Accelerators supported in QEMU binary:\nkvm\ninterp\ntcg\n");
        *exit_ok = true;
        return true;
    }
    opts = cmdline_opts(optname, arg, "accel", known, errp);
    if (!opts) {
        return false;
    }
    ok = add_accel(lo, optname, opts_get(opts, "accel"), errp);
    opts_free(opts);
    return ok;
}

static bool opt_enable_kvm(LaunchOptions *lo, const char *optname,
                           const char *arg, bool *exit_ok, GError **errp)
{
    return add_accel(lo, optname, "kvm", errp);
}

static bool opt_machine(LaunchOptions *lo, const char *optname,
                        const char *arg, bool *exit_ok, GError **errp)
{
    static const char *const known[] = { "type", "accel", NULL };
    LemuOpts *opts;
    const char *type, *accel;
    bool ok = false;

    if (strcmp(arg, "help") == 0) {
        printf("Supported machines are:\n"
               "pc                   Standard PC (i440FX, direct kernel "
               "boot) (default)\n");
        *exit_ok = true;
        return true;
    }
    opts = cmdline_opts(optname, arg, "type", known, errp);
    if (!opts) {
        return false;
    }
    type = opts_get(opts, "type");
    if (type) {
        /* QEMU's versioned i440FX names all mean this one board. */
        if (strcmp(type, "pc") && !g_str_has_prefix(type, "pc-i440fx-")) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "%s: unsupported machine type '%s' (lemu has: pc; "
                        "use -machine help to list)", optname, type);
            goto out;
        }
        set_string(&lo->cfg.machine_type, "pc");
    }
    accel = opts_get(opts, "accel");
    if (accel && !add_accel(lo, optname, accel, errp)) {
        goto out;
    }
    ok = true;
out:
    opts_free(opts);
    return ok;
}

static bool opt_cpu(LaunchOptions *lo, const char *optname, const char *arg,
                    bool *exit_ok, GError **errp)
{
    if (strcmp(arg, "help") == 0) {
        printf("Available CPUs:\n"
               "x86 host   KVM processor with all supported host features\n"
               "x86 max    Enables all features supported by the "
               "accelerator\n");
        *exit_ok = true;
        return true;
    }
    if (strcmp(arg, "host") && strcmp(arg, "max")) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: unsupported CPU model '%s' (expected host or max)",
                    optname, arg);
        return false;
    }
    set_string(&lo->cfg.cpu_model, arg);
    return true;
}

static bool opt_kernel(LaunchOptions *lo, const char *optname,
                       const char *arg, bool *exit_ok, GError **errp)
{
    set_string(&lo->cfg.kernel, arg);
    return true;
}

static bool opt_initrd(LaunchOptions *lo, const char *optname,
                       const char *arg, bool *exit_ok, GError **errp)
{
    set_string(&lo->cfg.initrd, arg);
    return true;
}

static bool opt_append(LaunchOptions *lo, const char *optname,
                       const char *arg, bool *exit_ok, GError **errp)
{
    set_string(&lo->cfg.append, arg);
    return true;
}

static bool opt_device(LaunchOptions *lo, const char *optname,
                       const char *arg, bool *exit_ok, GError **errp)
{
    LemuOpts *opts;
    const char *driver;
    const DeviceClass *cls;

    if (strcmp(arg, "help") == 0) {
        device_class_print_list(stdout);
        *exit_ok = true;
        return true;
    }
    /* "DRIVER,help" lists the driver's properties. */
    if (g_str_has_suffix(arg, ",help")) {
        g_autofree char *name = g_strndup(arg, strlen(arg) - strlen(",help"));
        cls = device_class_find(name);
        if (!cls || !cls->user_creatable) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "%s: '%s' is not a valid device model name (see "
                        "-device help)", optname, name);
            return false;
        }
        device_class_print_props(stdout, cls);
        *exit_ok = true;
        return true;
    }
    opts = opts_parse(optname, arg, "driver", errp);
    if (!opts) {
        return false;
    }
    driver = opts_get(opts, "driver");
    cls = driver ? device_class_find(driver) : NULL;
    if (!cls || !cls->user_creatable) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: '%s' is not a valid device model name (see -device "
                    "help)", optname, driver ? driver : "");
        opts_free(opts);
        return false;
    }
    g_ptr_array_add(lo->cfg.devices, opts);
    return true;
}

static bool opt_serial(LaunchOptions *lo, const char *optname,
                       const char *arg, bool *exit_ok, GError **errp)
{
    g_ptr_array_add(lo->cfg.serials, g_strdup(arg));
    return true;
}

static bool opt_chardev(LaunchOptions *lo, const char *optname,
                        const char *arg, bool *exit_ok, GError **errp)
{
    LemuOpts *opts;

    if (strcmp(arg, "help") == 0) {
        printf("Available chardev backend types:\n  stdio\n  file\n"
               "  socket\n  null\n");
        *exit_ok = true;
        return true;
    }
    /* QEMU's old bare flags ("server,nowait") are accepted here too. */
    opts = chardev_opts_parse(optname, arg, errp);
    if (!opts) {
        return false;
    }
    g_ptr_array_add(lo->cfg.chardevs, opts);
    return true;
}

/*
 * -qmp/-monitor SPEC: a monitor on a chardev of its own, made from SPEC
 * by machine-init and named compat_monitorN as in QEMU (N counts these
 * options), or on an existing one with "chardev:ID". "none": no monitor.
 */
static bool add_compat_monitor(LaunchOptions *lo, const char *optname,
                               const char *spec, MonitorMode mode,
                               bool pretty, GError **errp)
{
    MonitorConfig *mc;

    if (strcmp(spec, "none") == 0) {
        return true;
    }
    mc = g_new0(MonitorConfig, 1);
    if (g_str_has_prefix(spec, "chardev:")) {
        const char *id = spec + strlen("chardev:");

        if (!*id) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "%s %s: missing chardev id (expected chardev:ID)",
                        optname, spec);
            g_free(mc);
            return false;
        }
        mc->chardev = g_strdup(id);
    } else {
        mc->chardev = g_strdup_printf("compat_monitor%u", lo->monitor_index);
        mc->spec = g_strdup(spec);
    }
    mc->mode = mode;
    mc->pretty = pretty;
    lo->monitor_index++;
    g_ptr_array_add(lo->cfg.monitors, mc);
    return true;
}

static bool opt_qmp(LaunchOptions *lo, const char *optname, const char *arg,
                    bool *exit_ok, GError **errp)
{
    return add_compat_monitor(lo, optname, arg, MONITOR_MODE_CONTROL, false,
                              errp);
}

static bool opt_qmp_pretty(LaunchOptions *lo, const char *optname,
                           const char *arg, bool *exit_ok, GError **errp)
{
    return add_compat_monitor(lo, optname, arg, MONITOR_MODE_CONTROL, true,
                              errp);
}

static bool opt_monitor(LaunchOptions *lo, const char *optname,
                        const char *arg, bool *exit_ok, GError **errp)
{
    return add_compat_monitor(lo, optname, arg, MONITOR_MODE_READLINE, false,
                              errp);
}

/* -mon [chardev=]ID[,mode=control|readline][,pretty=on|off][,id=NAME]
 * (id= names the monitor, as libvirt passes it; nothing refers to it) */
static bool opt_mon(LaunchOptions *lo, const char *optname, const char *arg,
                    bool *exit_ok, GError **errp)
{
    static const char *const known[] = {
        "chardev", "mode", "pretty", "id", NULL
    };
    LemuOpts *opts = cmdline_opts(optname, arg, "chardev", known, errp);
    const char *chardev, *mode;
    MonitorConfig *mc;
    MonitorMode mon_mode;
    bool pretty;
    bool ok = false;

    if (!opts) {
        return false;
    }
    chardev = opts_get(opts, "chardev");
    if (!chardev || !*chardev) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s %s: missing chardev (expected [chardev=]ID naming a "
                    "-chardev)", optname, arg);
        goto out;
    }
    /* QEMU's default is the human monitor. */
    mode = opts_get(opts, "mode");
    if (!mode || strcmp(mode, "readline") == 0) {
        mon_mode = MONITOR_MODE_READLINE;
    } else if (strcmp(mode, "control") == 0) {
        mon_mode = MONITOR_MODE_CONTROL;
    } else {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s %s: unknown monitor mode '%s' (expected control or "
                    "readline)", optname, arg, mode);
        goto out;
    }
    if (!opts_get_bool(opts, "pretty", false, &pretty, errp)) {
        goto out;
    }
    if (pretty && mon_mode != MONITOR_MODE_CONTROL) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s %s: pretty=on is only for QMP monitors "
                    "(mode=control)", optname, arg);
        goto out;
    }
    mc = g_new0(MonitorConfig, 1);
    mc->chardev = g_strdup(chardev);
    mc->mode = mon_mode;
    mc->pretty = pretty;
    g_ptr_array_add(lo->cfg.monitors, mc);
    ok = true;
out:
    opts_free(opts);
    return ok;
}

/* 8-4-4-4-12 hexadecimal digits, as QEMU's -uuid takes them. */
static bool uuid_is_valid(const char *s)
{
    if (strlen(s) != 36) {
        return false;
    }
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;

        if (dash ? s[i] != '-' : !g_ascii_isxdigit(s[i])) {
            return false;
        }
    }
    return true;
}

static bool opt_uuid(LaunchOptions *lo, const char *optname, const char *arg,
                     bool *exit_ok, GError **errp)
{
    if (!uuid_is_valid(arg)) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "%s: '%s' is not a UUID (expected 8-4-4-4-12 hex digits, "
                    "e.g. 12345678-9abc-def0-1234-56789abcdef0)", optname,
                    arg);
        return false;
    }
    g_free(lo->cfg.uuid);
    lo->cfg.uuid = g_ascii_strdown(arg, -1);
    return true;
}

static bool opt_nographic(LaunchOptions *lo, const char *optname,
                          const char *arg, bool *exit_ok, GError **errp)
{
    lo->nographic = true;
    return true;
}

static bool opt_nodefaults(LaunchOptions *lo, const char *optname,
                           const char *arg, bool *exit_ok, GError **errp)
{
    lo->nodefaults = true;
    return true;
}

static bool opt_display(LaunchOptions *lo, const char *optname,
                        const char *arg, bool *exit_ok, GError **errp)
{
    static const char *const known[] = { "type", NULL };
    LemuOpts *opts = cmdline_opts(optname, arg, "type", known, errp);
    bool ok;

    if (!opts) {
        return false;
    }
    ok = g_strcmp0(opts_get(opts, "type"), "none") == 0;
    if (!ok) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                    "%s %s: display not supported (lemu has: none)",
                    optname, arg);
    }
    opts_free(opts);
    return ok;
}

static bool opt_flag_S(LaunchOptions *lo, const char *optname,
                       const char *arg, bool *exit_ok, GError **errp)
{
    lo->cfg.start_paused = true;
    return true;
}

static bool opt_no_reboot(LaunchOptions *lo, const char *optname,
                          const char *arg, bool *exit_ok, GError **errp)
{
    lo->cfg.no_reboot = true;
    return true;
}

static bool opt_no_shutdown(LaunchOptions *lo, const char *optname,
                            const char *arg, bool *exit_ok, GError **errp)
{
    lo->cfg.no_shutdown = true;
    return true;
}

static bool opt_name(LaunchOptions *lo, const char *optname, const char *arg,
                     bool *exit_ok, GError **errp)
{
    static const char *const known[] = {
        "guest", "process", "debug-threads", NULL
    };
    LemuOpts *opts = cmdline_opts(optname, arg, "guest", known, errp);
    bool debug_threads;

    if (!opts) {
        return false;
    }
    if (!opts_get_bool(opts, "debug-threads", false, &debug_threads, errp)) {
        opts_free(opts);
        return false;
    }
    set_string(&lo->cfg.name, opts_get(opts, "guest"));
    opts_free(opts);
    return true;
}

static bool opt_daemonize(LaunchOptions *lo, const char *optname,
                          const char *arg, bool *exit_ok, GError **errp)
{
    lo->daemonize = true;
    return true;
}

static bool opt_pidfile(LaunchOptions *lo, const char *optname,
                        const char *arg, bool *exit_ok, GError **errp)
{
    set_string(&lo->pidfile, arg);
    return true;
}

static bool opt_log_items(LaunchOptions *lo, const char *optname,
                          const char *arg, bool *exit_ok, GError **errp)
{
    if (strcmp(arg, "help") == 0) {
        /* log_parse_items prints the list for "help" */
        log_parse_items(arg, &lo->log_mask, NULL);
        *exit_ok = true;
        return true;
    }
    return log_parse_items(arg, &lo->log_mask, errp);
}

static bool opt_log_file(LaunchOptions *lo, const char *optname,
                         const char *arg, bool *exit_ok, GError **errp)
{
    set_string(&lo->log_file, arg);
    return true;
}

/* -drive and -blockdev are parsed when the machine opens them
 * (block/blockdev.c); here they are only collected in order. */
static bool opt_drive(LaunchOptions *lo, const char *optname,
                      const char *arg, bool *exit_ok, GError **errp)
{
    g_ptr_array_add(lo->cfg.drives, g_strdup(arg));
    return true;
}

static bool opt_blockdev(LaunchOptions *lo, const char *optname,
                         const char *arg, bool *exit_ok, GError **errp)
{
    g_ptr_array_add(lo->cfg.blockdevs, g_strdup(arg));
    return true;
}

/* -hda FILE: the first disk, as -drive file=FILE,index=0,media=disk. */
static bool opt_hda(LaunchOptions *lo, const char *optname, const char *arg,
                    bool *exit_ok, GError **errp)
{
    g_auto(GStrv) parts = g_strsplit(arg, ",", -1);
    g_autofree char *escaped = g_strjoinv(",,", parts);

    g_ptr_array_add(lo->cfg.drives,
                    g_strdup_printf("file=%s,index=0,media=disk", escaped));
    return true;
}

static bool opt_snapshot(LaunchOptions *lo, const char *optname,
                         const char *arg, bool *exit_ok, GError **errp)
{
    lo->snapshot = true;
    return true;
}

static bool opt_version(LaunchOptions *lo, const char *optname,
                        const char *arg, bool *exit_ok, GError **errp);
static bool opt_help(LaunchOptions *lo, const char *optname,
                     const char *arg, bool *exit_ok, GError **errp);

static const CmdlineOption cmdline_options[] = {
    { "h", false, opt_help, "-h               print this help" },
    { "help", false, opt_help, NULL },
    { "version", false, opt_version, "-version         print the version" },
    { "machine", true, opt_machine,
      "-machine [type=]pc[,accel=kvm|interp|tcg]  the board (-M too)" },
    { "M", true, opt_machine, NULL },
    { "accel", true, opt_accel,
      "-accel kvm|interp|tcg  accelerator (tcg is the interpreter)" },
    { "enable-kvm", false, opt_enable_kvm, "-enable-kvm      same as -accel kvm" },
    { "cpu", true, opt_cpu, "-cpu host|max    CPU model" },
    { "m", true, opt_memory, "-m [size=]SIZE   guest RAM (MiB unless suffixed)" },
    { "smp", true, opt_smp, "-smp [cpus=]N    number of vCPUs" },
    { "kernel", true, opt_kernel,
      "-kernel FILE     Linux bzImage or multiboot kernel" },
    { "initrd", true, opt_initrd,
      "-initrd FILE     initial ramdisk (multiboot: modules \"f1 arg,f2\")" },
    { "append", true, opt_append, "-append CMDLINE  kernel command line" },
    { "device", true, opt_device,
      "-device DRIVER[,prop=value...]  add a device (-device help)" },
    { "serial", true, opt_serial,
      "-serial stdio|file:PATH|unix:PATH[,server=on,wait=off]|\n"
      "        tcp:[HOST]:PORT[,server=on,wait=off]|null|none|chardev:ID\n"
      "                 (a socket without server=on connects to PATH or "
      "PORT)" },
    { "chardev", true, opt_chardev,
      "-chardev BACKEND,id=ID[,path=P|host=H,port=N|fd=N]"
      "[,server=on,wait=off]" },
    { "qmp", true, opt_qmp,
      "-qmp SPEC        QMP monitor on SPEC (as -serial: tcp:..., unix:..., "
      "stdio)" },
    { "qmp-pretty", true, opt_qmp_pretty,
      "-qmp-pretty SPEC  same, with indented JSON" },
    { "monitor", true, opt_monitor,
      "-monitor SPEC    human monitor on SPEC (as -serial)" },
    { "mon", true, opt_mon,
      "-mon [chardev=]ID[,mode=control|readline][,pretty=on|off][,id=NAME]\n"
      "                 monitor on a -chardev (default mode: readline)" },
    { "uuid", true, opt_uuid,
      "-uuid UUID       the VM's UUID (8-4-4-4-12 hex digits)" },
    { "nographic", false, opt_nographic,
      "-nographic       no display, serial on the terminal (Ctrl-a h)" },
    { "nodefaults", false, opt_nodefaults,
      "-nodefaults      no default devices (no serial port unless -serial)" },
    { "display", true, opt_display, "-display none    no display" },
    { "S", false, opt_flag_S, "-S               do not start the CPUs" },
    { "no-reboot", false, opt_no_reboot,
      "-no-reboot       exit instead of rebooting" },
    { "no-shutdown", false, opt_no_shutdown,
      "-no-shutdown     pause instead of exiting on guest poweroff" },
    { "name", true, opt_name, "-name [guest=]NAME  the VM's name" },
    { "daemonize", false, opt_daemonize,
      "-daemonize       detach after start-up" },
    { "pidfile", true, opt_pidfile, "-pidfile FILE    write the pid to FILE" },
    { "drive", true, opt_drive,
      "-drive file=F[,format=qcow2|raw][,if=virtio|none][,id=ID][,index=N]\n"
      "       [,readonly=on][,snapshot=on][,cache=writeback|none|writethrough|"
      "unsafe|directsync]\n"
      "       [,discard=ignore|unmap][,aio=threads|native|io_uring]"
      "[,werror=..][,rerror=..]  a disk" },
    { "blockdev", true, opt_blockdev,
      "-blockdev driver=D,node-name=N[,file.filename=F...] or JSON  a block "
      "node" },
    { "hda", true, opt_hda, "-hda FILE        the first disk (virtio)" },
    { "snapshot", false, opt_snapshot,
      "-snapshot        write to temporary overlays, never to the images" },
    { "d", true, opt_log_items,
      "-d ITEM,...      enable logs (-d help lists them)" },
    { "D", true, opt_log_file, "-D FILE          write logs to FILE" },
};

static bool opt_version(LaunchOptions *lo, const char *optname,
                        const char *arg, bool *exit_ok, GError **errp)
{
    printf("lemu version " LEMU_VERSION "\n"
           "A QEMU-compatible x86-64 virtual machine monitor\n");
    *exit_ok = true;
    return true;
}

static bool opt_help(LaunchOptions *lo, const char *optname,
                     const char *arg, bool *exit_ok, GError **errp)
{
    printf("lemu version " LEMU_VERSION "\n"
           "usage: lemu [options]\n\n");
    for (size_t i = 0; i < G_N_ELEMENTS(cmdline_options); i++) {
        if (cmdline_options[i].help) {
            printf("%s\n", cmdline_options[i].help);
        }
    }
    printf("\nDuring emulation with -nographic or -serial stdio:\n"
           "Ctrl-a x  exit    Ctrl-a h  help    Ctrl-a Ctrl-a  send Ctrl-a\n");
    *exit_ok = true;
    return true;
}

static const CmdlineOption *cmdline_find(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(cmdline_options); i++) {
        if (strcmp(cmdline_options[i].name, name) == 0) {
            return &cmdline_options[i];
        }
    }
    return NULL;
}

static bool spec_is_stdio(const char *spec)
{
    return strcmp(spec, "stdio") == 0 || strcmp(spec, "mon:stdio") == 0;
}

/* The terminal can serve one character device; counts who asked for it. */
static unsigned stdio_users(MachineConfig *cfg)
{
    unsigned n = 0;

    for (guint i = 0; i < cfg->serials->len; i++) {
        n += spec_is_stdio(g_ptr_array_index(cfg->serials, i));
    }
    for (guint i = 0; i < cfg->monitors->len; i++) {
        MonitorConfig *mc = g_ptr_array_index(cfg->monitors, i);
        n += mc->spec && spec_is_stdio(mc->spec);
    }
    for (guint i = 0; i < cfg->chardevs->len; i++) {
        n += g_strcmp0(opts_get(g_ptr_array_index(cfg->chardevs, i),
                                "backend"), "stdio") == 0;
    }
    return n;
}

/* Cross-option rules, checked once everything is parsed. */
static bool cmdline_check(LaunchOptions *lo, GError **errp)
{
    MachineConfig *cfg = &lo->cfg;
    unsigned stdio = stdio_users(cfg);

    if (!cfg->kernel && cfg->initrd) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "-initrd only allowed with -kernel option");
        return false;
    }
    if (!cfg->kernel && cfg->append) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "-append only allowed with -kernel option");
        return false;
    }
    if (lo->daemonize && lo->nographic) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "-nographic cannot be used with -daemonize");
        return false;
    }
    if (stdio > 1) {
        g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                    "cannot use stdio by multiple character devices");
        return false;
    }
    for (guint i = 0; lo->daemonize && i < cfg->monitors->len; i++) {
        MonitorConfig *mc = g_ptr_array_index(cfg->monitors, i);
        if (mc->spec && spec_is_stdio(mc->spec)) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "%s %s cannot be used with -daemonize",
                        mc->mode == MONITOR_MODE_CONTROL ? "-qmp" :
                        "-monitor", mc->spec);
            return false;
        }
    }
    /* Without a display the first serial port goes to the terminal, as
     * -nographic does in QEMU; a daemon has no terminal, and a monitor
     * (or -chardev) on stdio already has it. */
    if (cfg->serials->len == 0 && !lo->nodefaults) {
        g_ptr_array_add(cfg->serials,
                        g_strdup(lo->daemonize || stdio ? "null" :
                                 "mon:stdio"));
    }
    /* -snapshot: snapshot=on for every -drive that does not say. */
    for (guint i = 0; lo->snapshot && i < cfg->drives->len; i++) {
        char *d = cfg->drives->pdata[i];

        cfg->drives->pdata[i] = g_strconcat("snapshot=on,", d, NULL);
        g_free(d);
    }
    for (guint i = 0; lo->daemonize && i < cfg->serials->len; i++) {
        const char *spec = g_ptr_array_index(cfg->serials, i);
        if (strstr(spec, "stdio")) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                        "-serial %s cannot be used with -daemonize", spec);
            return false;
        }
    }
    return true;
}

CmdlineResult cmdline_parse(int argc, char **argv, LaunchOptions *lo,
                            GError **errp)
{
    memset(lo, 0, sizeof(*lo));
    machine_config_init(&lo->cfg);

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *name;
        const CmdlineOption *opt;
        const char *value = NULL;
        bool exit_ok = false;

        if (arg[0] != '-' || arg[1] == '\0') {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                        "%s: a disk image given without an option is not "
                        "supported yet", arg);
            return CMDLINE_ERROR;
        }
        name = arg + 1;
        if (name[0] == '-') {
            name++;          /* --option is the same as -option */
        }
        opt = cmdline_find(name);
        if (!opt) {
            g_set_error(errp, LEMU_ERROR, LEMU_ERROR_UNSUPPORTED,
                        "-%s: option not supported", name);
            return CMDLINE_ERROR;
        }
        if (opt->has_arg) {
            if (i + 1 >= argc) {
                g_set_error(errp, LEMU_ERROR, LEMU_ERROR_INVALID,
                            "-%s: requires an argument", name);
                return CMDLINE_ERROR;
            }
            value = argv[++i];
        }
        g_autofree char *optname = g_strdup_printf("-%s", name);
        if (!opt->handler(lo, optname, value, &exit_ok, errp)) {
            return CMDLINE_ERROR;
        }
        if (exit_ok) {
            return CMDLINE_EXIT_OK;
        }
    }
    return cmdline_check(lo, errp) ? CMDLINE_RUN : CMDLINE_ERROR;
}

void launch_options_clear(LaunchOptions *lo)
{
    machine_config_clear(&lo->cfg);
    g_free(lo->pidfile);
    g_free(lo->log_file);
    memset(lo, 0, sizeof(*lo));
}
