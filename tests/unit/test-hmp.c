/*
 * The human monitor on a real pc machine (interp, 16 MiB, -S): commands
 * through hmp_run_command_line and human-monitor-command, the line editor
 * over a unix socket, and the -serial mon:stdio switch in a subprocess
 * whose stdin and stdout are pipes.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <glib/gstdio.h>
#include "fixture.h"
#include "lemu-config.h"
#include "monitor/monitor-internal.h"
#include "lemu/util/disas.h"
#include "lemu/util/log.h"

#define MiB (1ULL << 20)
#define COM1 0x3f8
#define UART_LSR_DR 0x01

static Machine *hmp_machine_new(const char *serial)
{
    MachineConfig cfg;
    GError *err = NULL;
    Machine *m;

    machine_config_init(&cfg);
    g_free(cfg.accel);
    cfg.accel = g_strdup("interp");
    cfg.ram_size = 16 * MiB;
    cfg.start_paused = true;
    g_ptr_array_add(cfg.serials, g_strdup(serial));
    /* lemu has no BIOS: vCPU 0 starts in real mode at 0x7c00, on
     * hlt; jmp back to the hlt, so that the VM idles while it runs. */
    g_ptr_array_add(cfg.devices,
                    opts_parse("-device", "loader,addr=0x7c00,cpu-num=0,"
                               "data=0xfdebf4,data-len=4", "driver", &err));
    g_assert_no_error(err);
    m = machine_new(&cfg, &err);
    g_assert_no_error(err);
    g_assert_nonnull(m);
    machine_lock(m);
    machine_start(m);
    machine_unlock(m);
    return m;
}

static void hmp_machine_free(Machine *m)
{
    machine_free(m);
}

/* Runs @line with the machine lock held, as the main loop would. */
static char *hmp(Machine *m, const char *line)
{
    QmpContext ctx = { .machine = m };
    char *out;

    machine_lock(m);
    out = hmp_run_command_line(&ctx, line);
    machine_unlock(m);
    return out;
}

static void assert_hmp(Machine *m, const char *line, const char *expected)
{
    g_autofree char *out = hmp(m, line);

    g_assert_cmpstr(out, ==, expected);
}

/* @line's output contains @part. */
static void assert_hmp_has(Machine *m, const char *line, const char *part)
{
    g_autofree char *out = hmp(m, line);

    if (!strstr(out, part)) {
        g_error("'%s' printed\n%s\nwithout '%s'", line, out, part);
    }
}

static void poke(Machine *m, uint64_t gpa, const void *data, size_t len)
{
    machine_lock(m);
    g_assert_true(memory_map_write(m->mem, gpa, data, len));
    machine_unlock(m);
}

/* Loads @st into vCPU 0, as a boot loader would (the VM is in -S). */
static void set_cpu_state(Machine *m, const X86CPUState *st)
{
    machine_lock(m);
    vcpu_set_pending_state(m->vcpus[0], st);
    machine_unlock(m);
}

/* ---- commands ----------------------------------------------------------- */

static void test_info_status(void)
{
    Machine *m = hmp_machine_new("null");

    assert_hmp(m, "info status", "VM status: paused (prelaunch)\r\n");
    assert_hmp(m, "  info   status  ", "VM status: paused (prelaunch)\r\n");
    hmp_machine_free(m);
}

static void test_stop_cont(void)
{
    Machine *m = hmp_machine_new("null");

    assert_hmp(m, "cont", "");
    assert_hmp(m, "info status", "VM status: running\r\n");
    assert_hmp(m, "stop", "");
    assert_hmp(m, "info status", "VM status: paused\r\n");
    assert_hmp(m, "c", "");
    assert_hmp(m, "info status", "VM status: running\r\n");
    /* info registers pauses the vCPUs around its read, then resumes */
    assert_hmp_has(m, "info registers", "EIP=00007c0");
    assert_hmp(m, "info status", "VM status: running\r\n");
    assert_hmp(m, "s", "");
    assert_hmp(m, "info status", "VM status: paused\r\n");
    hmp_machine_free(m);
}

static void test_memory_dump(void)
{
    static const uint8_t bytes[] = {
        0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
        0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00,
        'h', 'i', '\n', 0x01,
    };
    Machine *m = hmp_machine_new("null");

    poke(m, 0x1000, bytes, sizeof(bytes));
    assert_hmp(m, "xp/4xb 0x1000",
               "0000000000001000: 0x11 0x22 0x33 0x44\r\n");
    assert_hmp(m, "xp 0x1000", "0000000000001000: 0x44332211\r\n");
    /* 16 bytes a line for words, 8 for bytes */
    assert_hmp(m, "xp/5x 4096",
               "0000000000001000: 0x44332211 0x88776655 0xccbbaa99 "
               "0x00ffeedd\r\n"
               "0000000000001010: 0x010a6968\r\n");
    assert_hmp(m, "xp/10xb 0x1000",
               "0000000000001000: 0x11 0x22 0x33 0x44 0x55 0x66 0x77 0x88\r\n"
               "0000000000001008: 0x99 0xaa\r\n");
    assert_hmp(m, "xp/2xg 0x1000",
               "0000000000001000: 0x8877665544332211 0x00ffeeddccbbaa99\r\n");
    assert_hmp(m, "xp/2xh 0x1000", "0000000000001000: 0x2211 0x4433\r\n");
    assert_hmp(m, "xp/2ub 0x1008", "0000000000001008: 153 170\r\n");
    /* /d: QEMU does not sign-extend items narrower than 8 bytes */
    assert_hmp(m, "xp/2db 0x1008", "0000000000001008: 153 170\r\n");
    assert_hmp(m, "xp/dg 0x1008",
               "0000000000001008:    72038755451251353\r\n");
    assert_hmp(m, "print /d -2", "-2\r\n");
    assert_hmp(m, "xp/ob 0x1000", "0000000000001000: 021\r\n");
    assert_hmp(m, "xp/4c 0x1010",
               "0000000000001010: 'h' 'i' '\\n' '\\x01'\r\n");
    /* x: linear addresses; real mode without paging maps them 1:1 */
    assert_hmp(m, "x/2x 0x1000",
               "0000000000001000: 0x44332211 0x88776655\r\n");
    assert_hmp(m, "x/xb 0x1000 + 2*4 - 1", "0000000000001007: 0x88\r\n");
    assert_hmp(m, "x/0x 0x1000", "");
    hmp_machine_free(m);
}

static void test_memory_dump_paging(void)
{
    Machine *m = hmp_machine_new("null");
    X86CPUState st = { 0 };
    /* 32-bit paging: PD at 0x20000, its entry 0 a table at 0x21000
     * whose entry 5 maps linear 0x5000 to physical 0x3000. */
    uint32_t pde = 0x21000 | 0x3, pte = 0x3000 | 0x3;
    uint32_t value = 0xcafef00d;

    poke(m, 0x20000, &pde, 4);
    poke(m, 0x21000 + 5 * 4, &pte, 4);
    poke(m, 0x3000, &value, 4);
    x86_cpu_state_reset(&st, true);
    x86_cpu_state_set_flat32(&st, 0x1000);
    st.cr0 |= CR0_PG;
    st.cr3 = 0x20000;
    set_cpu_state(m, &st);

    assert_hmp(m, "x 0x5000", "0000000000005000: 0xcafef00d\r\n");
    assert_hmp(m, "xp 0x3000", "0000000000003000: 0xcafef00d\r\n");
    assert_hmp(m, "x 0x6000", "0000000000006000: Cannot access memory\r\n");
    /* the second line crosses into an unmapped page */
    assert_hmp(m, "x/8x 0x5ff0",
               "0000000000005ff0: 0x00000000 0x00000000 0x00000000 "
               "0x00000000\r\n"
               "0000000000006000: Cannot access memory\r\n");
    hmp_machine_free(m);
}

static void test_disassembly(void)
{
    /* movw $1, %ax; nop; hlt (16-bit) */
    static const uint8_t code[] = { 0xb8, 0x01, 0x00, 0x90, 0xf4 };
    static const uint8_t invalid[] = { 0x0f, 0x04, 0x90 };
    Machine *m = hmp_machine_new("null");
    g_autofree char *out = NULL;

    if (!disas_available()) {
        assert_hmp(m, "xp/3i 0x2000",
                   "Cannot disassemble: capstone could not be loaded\r\n");
        hmp_machine_free(m);
        g_test_skip("libcapstone.so.4 cannot be loaded");
        return;
    }
    poke(m, 0x2000, code, sizeof(code));
    /* The reset state runs 16-bit code. */
    assert_hmp(m, "x/3i 0x2000",
               "0x00002000:  b8 01 00                  movw     $1, %ax\r\n"
               "0x00002003:  90                        nop\r\n"
               "0x00002004:  f4                        hlt\r\n");
    /* /w: as 32-bit code */
    out = hmp(m, "xp/1iw 0x2000");
    g_assert_true(g_str_has_prefix(out, "0x00002000:  b8 01 00 90 f4"));
    g_assert_nonnull(strstr(out, "movl     $0xf4900001, %eax\r\n"));
    /* 0f 04 is no instruction: shown as a byte, and the next one
     * decodes from the byte after it */
    poke(m, 0x3000, invalid, sizeof(invalid));
    assert_hmp(m, "xp/2i 0x3000",
               "0x00003000:  0f                        .byte    0x0f\r\n"
               "0x00003001:  04 90                     addb     $0x90, "
               "%al\r\n");
    /* the last byte of RAM starts an instruction that runs past it */
    assert_hmp(m, "xp/2i 0xffffff",
               "0x00ffffff: unable to read memory\r\n");
    hmp_machine_free(m);
}

static void test_info_registers(void)
{
    Machine *m = hmp_machine_new("null");
    X86CPUState st = { 0 };
    g_autofree char *out = NULL;

    /* the power-on state */
    x86_cpu_state_reset(&st, true);
    set_cpu_state(m, &st);
    out = hmp(m, "info registers");

    /* QEMU prints 32-bit registers outside 64-bit code */
    g_assert_true(g_str_has_prefix(out, "\r\nCPU#0\r\nEAX=00000000 "));
    g_assert_nonnull(strstr(out, "EIP=0000fff0 EFL=00000002 [-------] "
                                 "CPL=0 II=0 A20=1 SMM=0 HLT=0\r\n"));
    g_assert_nonnull(strstr(out, "\r\nCS =f000 ffff0000 0000ffff 00009b00"
                                 "\r\n"));
    g_assert_nonnull(strstr(out, "\r\nGDT=     00000000 0000ffff\r\n"));
    g_assert_nonnull(strstr(out, "\r\nCR0=60000010 CR2=00000000 "));
    g_assert_nonnull(strstr(out, "\r\nEFER=0000000000000000\r\n"));
    assert_hmp_has(m, "info registers -a", "EIP=0000fff0");
    assert_hmp_has(m, "print $pc", "0xfffffff0\r\n");
    assert_hmp(m, "print /x $cs", "0xf000\r\n");
    assert_hmp(m, "p/d $eax - 1", "-1\r\n");
    /* the reset vector is not backed by anything on this machine */
    assert_hmp(m, "x/2xb $pc", "00000000fffffff0: Cannot access memory\r\n");

    /* 64-bit code: the long layout */
    x86_cpu_state_reset(&st, true);
    x86_cpu_state_set_long_mode(&st, 0x100000, 0x9000);
    st.regs[R_R15] = 0x123456789abcdef0ULL;
    st.rflags |= (1 << 6) | (1 << 0);
    set_cpu_state(m, &st);
    g_free(out);
    out = hmp(m, "info registers");
    g_assert_nonnull(strstr(out, "R15=123456789abcdef0\r\n"));
    g_assert_nonnull(strstr(out, "RIP=0000000000100000 RFL=00000043 "
                                 "[---Z--C] CPL=0"));
    g_assert_nonnull(strstr(out, "\r\nCS =0010 0000000000000000 ffffffff "
                                 "00af9b00 DPL=0 CS64 [-RA]\r\n"));
    g_assert_nonnull(strstr(out, "\r\nCR0=80000011 CR2=0000000000000000 "
                                 "CR3=0000000000009000 CR4=00000020\r\n"));
    assert_hmp(m, "print $r15", "0x123456789abcdef0\r\n");
    assert_hmp(m, "print $rip + 0x10", "0x100010\r\n");
    hmp_machine_free(m);
}

static void test_info_misc(void)
{
    Machine *m = hmp_machine_new("null");
    g_autofree char *cpus = hmp(m, "info cpus");

    g_assert_true(g_str_has_prefix(cpus, "* CPU #0: thread_id="));
    assert_hmp(m, "info uuid", "00000000-0000-0000-0000-000000000000\r\n");
    assert_hmp(m, "info name", "");
    assert_hmp(m, "info version", "7.2.0 lemu " LEMU_VERSION "\r\n");
    assert_hmp_has(m, "info kvm", "kvm support: ");
    assert_hmp_has(m, "info chardev", "serial0: filename=");
    assert_hmp_has(m, "info mtree", "address-space: memory\r\n");
    assert_hmp_has(m, "info mtree",
                   "    0000000000000000-000000000009ffff (prio 0, ram): "
                   "pc.ram-low\r\n");
    assert_hmp_has(m, "info mtree", "address-space: I/O\r\n");
    assert_hmp_has(m, "info mtree",
                   "    00000000000003f8-00000000000003ff (prio 0, i/o): "
                   "serial\r\n");
    assert_hmp_has(m, "info qtree", "bus: main-system-bus\r\n");
    assert_hmp_has(m, "info qtree", "  dev: isa-serial, id \"\"\r\n");
    assert_hmp_has(m, "info qtree", "    iobase = 1016 (0x3f8)\r\n");
    assert_hmp_has(m, "help", "x /fmt addr -- virtual memory dump "
                   "starting at 'addr'\r\n");
    assert_hmp_has(m, "help", "cont|c  -- resume emulation\r\n");
    assert_hmp_has(m, "help info", "info status  -- show the current VM "
                   "status (running|paused)\r\n");
    assert_hmp(m, "help xp", "xp /fmt addr -- physical memory dump "
               "starting at 'addr'\r\n");
    assert_hmp_has(m, "info", "info registers [-a] -- ");
    assert_hmp(m, "cpu 0", "");
    assert_hmp(m, "cpu 1", "invalid CPU index\r\n");
    assert_hmp(m, "", "");
    hmp_machine_free(m);
}

static void test_bad_input(void)
{
    Machine *m = hmp_machine_new("null");

    assert_hmp(m, "foo bar", "unknown command: 'foo'\r\n");
    assert_hmp(m, "info foo", "unknown command: 'info foo'\r\n");
    assert_hmp(m, "help foo", "unknown command: 'foo'\r\n");
    assert_hmp(m, "/x", "unknown command: '/x'\r\n");
    /* argument errors as QEMU prints them, with a pointer to the help */
    assert_hmp(m, "stop now", "stop|s: extraneous characters at the end of "
               "line\r\nTry \"help stop\" for more information\r\n");
    assert_hmp(m, "info status x", "status: extraneous characters at the "
               "end of line\r\nTry \"help info status\" for more "
               "information\r\n");
    assert_hmp(m, "x", "missing address (expected an expression such as "
               "0x1000 or $rip)\r\nTry \"help x\" for more "
               "information\r\n");
    assert_hmp(m, "x/4z 0", "invalid char in format: 'z'\r\n"
               "Try \"help x\" for more information\r\n");
    assert_hmp_has(m, "x/100000x 0", "count 100000 is too large");
    assert_hmp_has(m, "x/99999999999999999999x 0", "is too large");
    assert_hmp_has(m, "x/x $nosuch", "unknown register '$nosuch'\r\n");
    assert_hmp_has(m, "x/x $", "register name expected after '$'\r\n");
    assert_hmp_has(m, "xp 0x1000 junk", "xp: extraneous characters");
    assert_hmp_has(m, "xp (1", "')' expected\r\n");
    assert_hmp_has(m, "xp 1 +", "unexpected end of expression\r\n");
    assert_hmp_has(m, "xp 99999999999999999999999", "number too large");
    assert_hmp(m, "print 1/0", "division by zero\r\n"
               "Try \"help print\" for more information\r\n");
    assert_hmp_has(m, "print 7 % (2 - 2)", "division by zero\r\n");
    assert_hmp(m, "xp/x 0xfffffffffffffffc", "fffffffffffffffc: Cannot "
               "access memory\r\n");
    assert_hmp(m, "xp/x 0x200000000", "0000000200000000: Cannot access "
               "memory\r\n");
    assert_hmp_has(m, "memsave 0 16", "missing file name\r\n");
    assert_hmp_has(m, "memsave 0 16 \"/tmp/x", "unterminated string\r\n");
    assert_hmp(m, "info \xff", "invalid command line: not valid UTF-8\r\n");
    assert_hmp(m, "cont\xc3", "invalid command line: not valid UTF-8\r\n");
    assert_hmp(m, "info status", "VM status: paused (prelaunch)\r\n");
    hmp_machine_free(m);
}

static void test_human_monitor_command(void)
{
    Machine *m = hmp_machine_new("null");
    QmpContext ctx = { .machine = m };
    g_autoptr(JsonValue) args = json_object();
    JsonValue *ret;
    GError *err = NULL;

    json_object_set_str(args, "command-line", "info status");
    machine_lock(m);
    ret = qmp_human_monitor_command(&ctx, args, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(json_get_string(ret), ==,
                    "VM status: paused (prelaunch)\r\n");
    json_free(ret);

    json_object_set_int(args, "cpu-index", 1);
    ret = qmp_human_monitor_command(&ctx, args, &err);
    g_assert_null(ret);
    g_assert_cmpstr(err->message, ==,
                    "Parameter 'cpu-index' expects a CPU number");
    g_clear_error(&err);

    /* through the command table, as a QMP client calls it */
    json_object_set_int(args, "cpu-index", 0);
    json_object_set_str(args, "command-line", "info cpus");
    ret = qmp_dispatch(&ctx, "human-monitor-command", args, &err);
    g_assert_no_error(err);
    g_assert_true(g_str_has_prefix(json_get_string(ret), "* CPU #0: "));
    json_free(ret);

    ret = qmp_dispatch(&ctx, "x-query-registers", NULL, &err);
    g_assert_no_error(err);
    g_assert_nonnull(strstr(json_object_get_str(ret, "human-readable-text"),
                            "\nCPU#0\nEAX=00000000 "));
    json_free(ret);
    machine_unlock(m);
    hmp_machine_free(m);
}

/* ---- the line editor on a socket ---------------------------------------- */

typedef struct Peer {
    int fd;
    GString *got;
} Peer;

/* Whether what the peer received so far contains @s. */
static bool peer_has(Peer *p, const char *s)
{
    char buf[4096];
    ssize_t n;

    while ((n = read(p->fd, buf, sizeof(buf))) > 0) {
        g_string_append_len(p->got, buf, n);
    }
    return strstr(p->got->str, s) != NULL;
}

static void peer_send(Peer *p, const char *s)
{
    size_t len = strlen(s);

    g_assert_cmpint(write(p->fd, s, len), ==, (ssize_t)len);
}

static unsigned count_of(const char *s, const char *what)
{
    unsigned n = 0;

    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what)) {
        n++;
    }
    return n;
}

static void test_line_editor(void)
{
    Machine *m = hmp_machine_new("null");
    g_autofree char *dir = g_dir_make_tmp("lemu-test-hmp-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "mon.sock", NULL);
    g_autofree char *spec = g_strdup_printf("unix:%s,server=on,wait=off",
                                            path);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    Peer p = { .got = g_string_new(NULL) };
    GError *err = NULL;
    HmpMonitor *hm;
    Chardev *chr;
    char *longline;

    chr = chardev_new_from_spec(m->loop, "-monitor", spec, "mon0", &err);
    g_assert_no_error(err);
    machine_lock(m);
    hm = hmp_monitor_new(m, chr, false, &err);
    g_assert_no_error(err);
    /* a second monitor cannot take the same chardev */
    g_assert_null(hmp_monitor_new(m, chr, false, &err));
    g_assert_nonnull(strstr(err->message, "'mon0' is already used"));
    g_clear_error(&err);

    p.fd = socket(AF_UNIX, SOCK_STREAM, 0);
    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    g_assert_cmpint(connect(p.fd, (struct sockaddr *)&sa, sizeof(sa)), ==,
                    0);
    fcntl(p.fd, F_SETFL, O_NONBLOCK);
    FIXTURE_RUN_UNTIL(m->loop, peer_has(&p, "(lemu) "));
    g_assert_cmpstr(p.got->str, ==, "lemu " LEMU_VERSION " monitor - type "
                    "'help' for more information\r\n(lemu) ");
    g_string_truncate(p.got, 0);

    /* echo, backspace, CR LF as one line end */
    peer_send(&p, "info sx\x7ftatus\r\n");
    FIXTURE_RUN_UNTIL(m->loop, peer_has(&p, "prelaunch)\r\n(lemu) "));
    g_assert_cmpstr(p.got->str, ==, "info sx\b \btatus\r\n"
                    "VM status: paused (prelaunch)\r\n(lemu) ");
    g_string_truncate(p.got, 0);

    /* Ctrl-U drops the line; arrow keys are swallowed; LF alone ends a
     * line too */
    peer_send(&p, "garbage\x15\x1b[Ainfo uuid\n");
    FIXTURE_RUN_UNTIL(m->loop, peer_has(&p, "0000\r\n(lemu) "));
    g_assert_null(strstr(p.got->str, "unknown"));
    g_assert_null(strstr(p.got->str, "[A"));
    g_assert_cmpuint(count_of(p.got->str, "(lemu) "), ==, 2);
    g_string_truncate(p.got, 0);

    /* a line over 4 KiB is refused as a whole */
    longline = g_strnfill(5000, 'a');
    longline[4999] = '\r';
    peer_send(&p, longline);
    g_free(longline);
    FIXTURE_RUN_UNTIL(m->loop, peer_has(&p, "ignored\r\n(lemu) "));
    g_assert_nonnull(strstr(p.got->str, "too long (at most 4096 bytes)"));
    g_assert_null(strstr(p.got->str, "unknown command"));
    g_string_truncate(p.got, 0);

    /* the next line works again */
    peer_send(&p, "info status\r");
    FIXTURE_RUN_UNTIL(m->loop, peer_has(&p, "prelaunch)\r\n(lemu) "));

    close(p.fd);
    fixture_run_for(m->loop, 20);
    hmp_monitor_free(hm);
    chardev_free(chr);
    machine_unlock(m);
    g_string_free(p.got, TRUE);
    g_unlink(path);
    g_rmdir(dir);
    hmp_machine_free(m);
}

/* ---- -serial mon:stdio ------------------------------------------------ */

/* Whether the guest has a byte in COM1's receiver; it is read into *@c
 * (which must start at -1) and kept, as FIXTURE_RUN_UNTIL asks twice. */
static bool uart_received(Machine *m, int *c)
{
    uint32_t v = 0;

    if (*c >= 0) {
        return true;
    }
    ioport_read(m->io, COM1 + 5, 1, &v);
    if (!(v & UART_LSR_DR)) {
        return false;
    }
    ioport_read(m->io, COM1, 1, &v);
    *c = v & 0xff;
    return true;
}

/* In a subprocess: stdin and stdout become pipes this test drives. */
static void test_mux_child(void)
{
    int in[2], out[2];
    Machine *m;
    HmpMonitor *hm;
    Peer p = { .got = g_string_new(NULL) };
    GError *err = NULL;
    int c = -1;
    uint32_t z = 'Z';

    /* Only as the child of /hmp/mux: it takes over stdin and stdout. */
    if (!g_test_subprocess()) {
        g_test_skip("runs as a subprocess of /hmp/mux");
        g_string_free(p.got, TRUE);
        return;
    }
    g_assert_cmpint(pipe(in), ==, 0);
    g_assert_cmpint(pipe(out), ==, 0);
    g_assert_cmpint(dup2(in[0], STDIN_FILENO), ==, STDIN_FILENO);
    g_assert_cmpint(dup2(out[1], STDOUT_FILENO), ==, STDOUT_FILENO);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    p.fd = out[0];

    m = hmp_machine_new("stdio");
    machine_lock(m);
    hm = hmp_monitor_new(m, m->serial_chr[0], true, &err);
    g_assert_no_error(err);

    /* hidden: keys go to the serial port */
    g_assert_cmpint(write(in[1], "a", 1), ==, 1);
    FIXTURE_RUN_UNTIL(m->loop, uart_received(m, &c));
    g_assert_cmpint(c, ==, 'a');

    /* Ctrl-a c: the monitor, banner first */
    g_assert_cmpint(write(in[1], "\x01" "c", 2), ==, 2);
    FIXTURE_RUN_UNTIL(m->loop, peer_has(&p, "(lemu) "));
    g_assert_cmpstr(p.got->str, ==, "lemu " LEMU_VERSION " monitor - type "
                    "'help' for more information\r\n(lemu) ");
    g_assert_cmpint(write(in[1], "info status\r", 12), ==, 12);
    FIXTURE_RUN_UNTIL(m->loop, peer_has(&p, "prelaunch)\r\n(lemu) "));
    c = -1;
    g_assert_false(uart_received(m, &c));
    /* the guest's output still shows */
    ioport_write(m->io, COM1, 1, z);
    FIXTURE_RUN_UNTIL(m->loop, peer_has(&p, "(lemu) Z"));

    /* Ctrl-a c again: back to the serial port */
    g_assert_cmpint(write(in[1], "\x01" "cq", 3), ==, 3);
    FIXTURE_RUN_UNTIL(m->loop, uart_received(m, &c));
    g_assert_cmpint(c, ==, 'q');
    g_string_truncate(p.got, 0);

    /* and to the monitor once more: only the prompt this time */
    g_assert_cmpint(write(in[1], "\x01" "c", 2), ==, 2);
    FIXTURE_RUN_UNTIL(m->loop, peer_has(&p, "(lemu) "));
    g_assert_null(strstr(p.got->str, "monitor - type"));

    hmp_monitor_free(hm);
    machine_unlock(m);
    hmp_machine_free(m);
    g_string_free(p.got, TRUE);
}

static void test_mux(void)
{
    Machine *m = hmp_machine_new("null");
    GError *err = NULL;

    /* Only stdio has the Ctrl-a escapes that switch. */
    machine_lock(m);
    g_assert_null(hmp_monitor_new(m, m->serial_chr[0], true, &err));
    g_assert_nonnull(strstr(err->message, "expected -serial mon:stdio"));
    g_clear_error(&err);
    machine_unlock(m);
    hmp_machine_free(m);

    g_test_trap_subprocess("/hmp/mux/subprocess", 20 * G_USEC_PER_SEC, 0);
    g_test_trap_assert_passed();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/hmp/info-status", test_info_status);
    g_test_add_func("/hmp/stop-cont", test_stop_cont);
    g_test_add_func("/hmp/memory-dump", test_memory_dump);
    g_test_add_func("/hmp/memory-dump-paging", test_memory_dump_paging);
    g_test_add_func("/hmp/disassembly", test_disassembly);
    g_test_add_func("/hmp/info-registers", test_info_registers);
    g_test_add_func("/hmp/info-misc", test_info_misc);
    g_test_add_func("/hmp/bad-input", test_bad_input);
    g_test_add_func("/hmp/human-monitor-command",
                    test_human_monitor_command);
    g_test_add_func("/hmp/line-editor", test_line_editor);
    g_test_add_func("/hmp/mux", test_mux);
    g_test_add_func("/hmp/mux/subprocess", test_mux_child);
    return g_test_run();
}
