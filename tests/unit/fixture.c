#include "fixture.h"
#include "lemu/hw/qdev.h"

typedef struct FixtureIrqs {
    int level[FIXTURE_NR_IRQS];
    unsigned raises[FIXTURE_NR_IRQS];
} FixtureIrqs;

static void fixture_irq_handler(void *opaque, int n, int level)
{
    FixtureIrqs *irqs = opaque;

    g_assert(n >= 0 && n < FIXTURE_NR_IRQS);
    if (level && !irqs->level[n]) {
        irqs->raises[n]++;
    }
    irqs->level[n] = level;
}

Machine *fixture_machine_new(void)
{
    Machine *m = g_new0(Machine, 1);

    g_mutex_init(&m->lock);
    g_cond_init(&m->vcpu_cond);
    machine_config_init(&m->cfg);
    m->loop = main_loop_new(NULL);
    m->mem = memory_map_new();
    m->io = ioport_map_new();
    m->devices = g_ptr_array_new();
    m->chardevs = g_ptr_array_new();
    m->rom_blobs = g_ptr_array_new();
    m->irq_route = fixture_irq_handler;
    m->irq_route_opaque = g_new0(FixtureIrqs, 1);
    m->runstate = RUN_STATE_RUNNING;
    return m;
}

void fixture_machine_free(Machine *m)
{
    device_destroy_all(m);
    g_ptr_array_free(m->devices, TRUE);
    g_ptr_array_free(m->chardevs, TRUE);
    g_ptr_array_free(m->rom_blobs, TRUE);
    g_free(m->irq_route_opaque);
    ioport_map_free(m->io);
    memory_map_free(m->mem);
    main_loop_free(m->loop);
    machine_config_clear(&m->cfg);
    g_cond_clear(&m->vcpu_cond);
    g_mutex_clear(&m->lock);
    g_free(m);
}

int fixture_irq_level(Machine *m, int n)
{
    return ((FixtureIrqs *)m->irq_route_opaque)->level[n];
}

unsigned fixture_irq_raises(Machine *m, int n)
{
    return ((FixtureIrqs *)m->irq_route_opaque)->raises[n];
}

void fixture_irq_clear(Machine *m)
{
    FixtureIrqs *irqs = m->irq_route_opaque;

    memset(irqs, 0, sizeof(*irqs));
}

uint32_t fixture_inb(Machine *m, uint16_t port)
{
    uint32_t v;

    ioport_read(m->io, port, 1, &v);
    return v & 0xff;
}

void fixture_outb(Machine *m, uint16_t port, uint8_t v)
{
    ioport_write(m->io, port, 1, v);
}

void fixture_run_for(MainLoop *loop, int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;

    while (g_get_monotonic_time() < end) {
        if (!main_loop_iterate(loop, false)) {
            g_usleep(200);
        }
    }
}
