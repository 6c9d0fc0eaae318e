/*
 * Intel 8042 keyboard controller with a PS/2 keyboard behind it: data
 * port 0x60, status/command port 0x64, IRQ 1 (keyboard) and IRQ 12 (aux).
 *
 * Bytes reach the guest through one output buffer, fed in order of
 * priority from three queues: the controller's own replies (including
 * bytes written with 0xD2/0xD3, which may be marked as aux data), then the
 * keyboard's buffer and the aux device's buffer, each only while its
 * interface is enabled in the command byte. Reading port 0x60 takes the
 * byte and refills the buffer from the queues, so a multi-byte reply
 * arrives one byte, and one interrupt, at a time.
 *
 * No mouse is attached: bytes sent to the aux device get a 0xFE (resend)
 * reply, as from a port with nothing plugged in. A20 is kept in the output
 * port but not applied to guest addresses.
 */
#include <string.h>
#include "lemu/hw/input/i8042.h"
#include "lemu/hw/qdev.h"
#include "lemu/system/machine.h"
#include "lemu/util/log.h"
#include "hw/device-classes.h"

#define I8042_DATA_PORT         0x60
#define I8042_COMMAND_PORT      0x64
#define I8042_KBD_IRQ           1
#define I8042_AUX_IRQ           12

/* Status register. */
#define I8042_STR_OBF           0x01    /* output buffer full */
#define I8042_STR_IBF           0x02    /* input buffer full (never seen) */
#define I8042_STR_SYS           0x04    /* system flag: self test passed */
#define I8042_STR_A2            0x08    /* last write was to 0x64 */
#define I8042_STR_KEYLOCK       0x10    /* 1: keyboard not locked */
#define I8042_STR_AUXB          0x20    /* output buffer holds aux data */

/* Command byte. */
#define I8042_CMD_KBD_INT       0x01
#define I8042_CMD_AUX_INT       0x02
#define I8042_CMD_SYS           0x04
#define I8042_CMD_KBD_DISABLE   0x10
#define I8042_CMD_AUX_DISABLE   0x20
#define I8042_CMD_XLATE         0x40

/* Output port. */
#define I8042_OUT_RESET         0x01    /* 0: CPU held in reset */
#define I8042_OUT_A20           0x02
#define I8042_OUT_KBD_OBF       0x10
#define I8042_OUT_AUX_OBF       0x20
#define I8042_OUT_LINES         0xcc    /* clock/data lines idle high */

/* Input port: keyboard not inhibited. */
#define I8042_INPUT_PORT        0x80

/* Controller commands (port 0x64). */
#define I8042_CCMD_READ_CMD     0x20
#define I8042_CCMD_WRITE_CMD    0x60
#define I8042_CCMD_AUX_DISABLE  0xa7
#define I8042_CCMD_AUX_ENABLE   0xa8
#define I8042_CCMD_AUX_TEST     0xa9
#define I8042_CCMD_SELF_TEST    0xaa
#define I8042_CCMD_KBD_TEST     0xab
#define I8042_CCMD_KBD_DISABLE  0xad
#define I8042_CCMD_KBD_ENABLE   0xae
#define I8042_CCMD_READ_INPUT   0xc0
#define I8042_CCMD_READ_OUTPUT  0xd0
#define I8042_CCMD_WRITE_OUTPUT 0xd1
#define I8042_CCMD_WRITE_KBD_OB 0xd2
#define I8042_CCMD_WRITE_AUX_OB 0xd3
#define I8042_CCMD_WRITE_AUX    0xd4
#define I8042_CCMD_A20_DISABLE  0xdd
#define I8042_CCMD_A20_ENABLE   0xdf
#define I8042_CCMD_PULSE_OUTPUT 0xf0    /* 0xf0-0xff: low nibble 0 = pulse */

#define I8042_SELF_TEST_OK      0x55
#define I8042_INTERFACE_OK      0x00

/* Keyboard commands (port 0x60). */
#define KBD_CMD_SET_LEDS        0xed
#define KBD_CMD_ECHO            0xee
#define KBD_CMD_SCANCODE_SET    0xf0
#define KBD_CMD_IDENTIFY        0xf2
#define KBD_CMD_SET_TYPEMATIC   0xf3
#define KBD_CMD_ENABLE          0xf4
#define KBD_CMD_DISABLE         0xf5
#define KBD_CMD_SET_DEFAULTS    0xf6
#define KBD_CMD_RESEND          0xfe
#define KBD_CMD_RESET           0xff

/* Keyboard replies. */
#define KBD_REPLY_ACK           0xfa
#define KBD_REPLY_RESEND        0xfe
#define KBD_REPLY_BAT_OK        0xaa
#define KBD_REPLY_ECHO          0xee
#define KBD_ID_1                0xab
#define KBD_ID_2                0x83
#define KBD_ID_2_XLATED         0x41

#define I8042_QUEUE_SIZE        16      /* a PS/2 keyboard's own buffer */
#define I8042_CTRL_QUEUE_SIZE   8
#define I8042_CTRL_AUX          0x100   /* ctrl queue entry is aux data */

typedef struct ByteQueue {
    uint8_t data[I8042_QUEUE_SIZE];
    uint8_t head;
    uint8_t count;
} ByteQueue;

typedef struct I8042State {
    Device parent;

    uint8_t status;             /* SYS, A2, INH; OBF/AUXB computed */
    uint8_t command_byte;
    uint8_t output_port;        /* RESET, A20 (OBF bits computed) */
    uint8_t pending_ccmd;       /* controller command awaiting its data */

    uint8_t obuf;               /* output buffer */
    bool obuf_full;
    bool obuf_aux;

    /* Controller replies: the byte, | I8042_CTRL_AUX for aux data. */
    uint16_t ctrl_queue[I8042_CTRL_QUEUE_SIZE];
    uint8_t ctrl_head;
    uint8_t ctrl_count;
    ByteQueue kbd_queue;
    ByteQueue aux_queue;

    /* The keyboard. */
    uint8_t kbd_pending_cmd;    /* command awaiting its parameter */
    uint8_t kbd_last_sent;      /* for 0xFE resend */
    uint8_t kbd_scancode_set;
    uint8_t kbd_leds;
    uint8_t kbd_typematic;
    bool kbd_scanning;

    IrqLine irq_kbd;
    IrqLine irq_aux;
    bool ports_registered;
} I8042State;

static const VMStateField i8042_vmstate[] = {
    VMSTATE(I8042State, status, VMS_U8),
    VMSTATE(I8042State, command_byte, VMS_U8),
    VMSTATE(I8042State, output_port, VMS_U8),
    VMSTATE(I8042State, pending_ccmd, VMS_U8),
    VMSTATE(I8042State, obuf, VMS_U8),
    VMSTATE(I8042State, obuf_full, VMS_BOOL),
    VMSTATE(I8042State, obuf_aux, VMS_BOOL),
    VMSTATE_ARRAY(I8042State, ctrl_queue, VMS_U16, I8042_CTRL_QUEUE_SIZE),
    VMSTATE(I8042State, ctrl_head, VMS_U8),
    VMSTATE(I8042State, ctrl_count, VMS_U8),
    VMSTATE_ARRAY(I8042State, kbd_queue.data, VMS_U8, I8042_QUEUE_SIZE),
    VMSTATE(I8042State, kbd_queue.head, VMS_U8),
    VMSTATE(I8042State, kbd_queue.count, VMS_U8),
    VMSTATE_ARRAY(I8042State, aux_queue.data, VMS_U8, I8042_QUEUE_SIZE),
    VMSTATE(I8042State, aux_queue.head, VMS_U8),
    VMSTATE(I8042State, aux_queue.count, VMS_U8),
    VMSTATE(I8042State, kbd_pending_cmd, VMS_U8),
    VMSTATE(I8042State, kbd_last_sent, VMS_U8),
    VMSTATE(I8042State, kbd_scancode_set, VMS_U8),
    VMSTATE(I8042State, kbd_leds, VMS_U8),
    VMSTATE(I8042State, kbd_typematic, VMS_U8),
    VMSTATE(I8042State, kbd_scanning, VMS_BOOL),
    VMSTATE_END
};

static bool byte_queue_push(ByteQueue *q, uint8_t b)
{
    if (q->count >= I8042_QUEUE_SIZE) {
        return false;
    }
    q->data[(q->head + q->count) % I8042_QUEUE_SIZE] = b;
    q->count++;
    return true;
}

static uint8_t byte_queue_pop(ByteQueue *q)
{
    uint8_t b = q->data[q->head % I8042_QUEUE_SIZE];

    q->head = (q->head + 1) % I8042_QUEUE_SIZE;
    q->count--;
    return b;
}

static void i8042_update_irqs(I8042State *s)
{
    bool kbd = s->obuf_full && !s->obuf_aux &&
               (s->command_byte & I8042_CMD_KBD_INT) &&
               !(s->command_byte & I8042_CMD_KBD_DISABLE);
    bool aux = s->obuf_full && s->obuf_aux &&
               (s->command_byte & I8042_CMD_AUX_INT);

    irq_set_level(&s->irq_kbd, kbd);
    irq_set_level(&s->irq_aux, aux);
}

/* Moves the next byte into an empty output buffer. */
static void i8042_fill_output(I8042State *s)
{
    if (!s->obuf_full) {
        if (s->ctrl_count) {
            uint16_t e = s->ctrl_queue[s->ctrl_head % I8042_CTRL_QUEUE_SIZE];

            s->ctrl_head = (s->ctrl_head + 1) % I8042_CTRL_QUEUE_SIZE;
            s->ctrl_count--;
            s->obuf = e & 0xff;
            s->obuf_aux = (e & I8042_CTRL_AUX) != 0;
            s->obuf_full = true;
        } else if (s->kbd_queue.count &&
                   !(s->command_byte & I8042_CMD_KBD_DISABLE)) {
            s->obuf = byte_queue_pop(&s->kbd_queue);
            s->obuf_aux = false;
            s->obuf_full = true;
        } else if (s->aux_queue.count &&
                   !(s->command_byte & I8042_CMD_AUX_DISABLE)) {
            s->obuf = byte_queue_pop(&s->aux_queue);
            s->obuf_aux = true;
            s->obuf_full = true;
        }
    }
    i8042_update_irqs(s);
}

static void i8042_controller_reply(I8042State *s, uint8_t b, bool aux)
{
    if (s->ctrl_count >= I8042_CTRL_QUEUE_SIZE) {
        lemu_log_mask(LOG_GUEST_ERROR, "i8042: controller reply 0x%02x "
                      "dropped, the guest is not reading port 0x60\n", b);
        return;
    }
    s->ctrl_queue[(s->ctrl_head + s->ctrl_count) % I8042_CTRL_QUEUE_SIZE] =
        b | (aux ? I8042_CTRL_AUX : 0);
    s->ctrl_count++;
    i8042_fill_output(s);
}

static void i8042_keyboard_send(I8042State *s, uint8_t b)
{
    if (!byte_queue_push(&s->kbd_queue, b)) {
        lemu_log_mask(LOG_GUEST_ERROR, "i8042: keyboard buffer full, "
                      "byte 0x%02x dropped\n", b);
        return;
    }
    s->kbd_last_sent = b;
    i8042_fill_output(s);
}

static void i8042_keyboard_defaults(I8042State *s)
{
    s->kbd_scancode_set = 2;
    s->kbd_typematic = 0x2b;    /* 10.9 characters/s, 500 ms delay */
}

static void i8042_keyboard_param(I8042State *s, uint8_t cmd, uint8_t val)
{
    switch (cmd) {
    case KBD_CMD_SET_LEDS:
        s->kbd_leds = val & 0x07;
        i8042_keyboard_send(s, KBD_REPLY_ACK);
        break;
    case KBD_CMD_SET_TYPEMATIC:
        s->kbd_typematic = val & 0x7f;
        i8042_keyboard_send(s, KBD_REPLY_ACK);
        break;
    case KBD_CMD_SCANCODE_SET:
        if (val == 0) {
            i8042_keyboard_send(s, KBD_REPLY_ACK);
            i8042_keyboard_send(s, s->kbd_scancode_set);
        } else if (val <= 3) {
            s->kbd_scancode_set = val;
            i8042_keyboard_send(s, KBD_REPLY_ACK);
        } else {
            i8042_keyboard_send(s, KBD_REPLY_RESEND);
        }
        break;
    }
}

/* A byte written to port 0x60 for the keyboard. */
static void i8042_keyboard_write(I8042State *s, uint8_t val)
{
    if (s->kbd_pending_cmd) {
        uint8_t cmd = s->kbd_pending_cmd;

        s->kbd_pending_cmd = 0;
        i8042_keyboard_param(s, cmd, val);
        return;
    }

    switch (val) {
    case KBD_CMD_SET_LEDS:
    case KBD_CMD_SET_TYPEMATIC:
    case KBD_CMD_SCANCODE_SET:
        i8042_keyboard_send(s, KBD_REPLY_ACK);
        s->kbd_pending_cmd = val;
        break;
    case KBD_CMD_ECHO:
        i8042_keyboard_send(s, KBD_REPLY_ECHO);
        break;
    case KBD_CMD_IDENTIFY:
        i8042_keyboard_send(s, KBD_REPLY_ACK);
        i8042_keyboard_send(s, KBD_ID_1);
        /* What the controller passes on with translation enabled. */
        i8042_keyboard_send(s, (s->command_byte & I8042_CMD_XLATE)
                               ? KBD_ID_2_XLATED : KBD_ID_2);
        break;
    case KBD_CMD_ENABLE:
        s->kbd_scanning = true;
        i8042_keyboard_send(s, KBD_REPLY_ACK);
        break;
    case KBD_CMD_DISABLE:
        s->kbd_scanning = false;
        i8042_keyboard_defaults(s);
        i8042_keyboard_send(s, KBD_REPLY_ACK);
        break;
    case KBD_CMD_SET_DEFAULTS:
        s->kbd_scanning = true;
        i8042_keyboard_defaults(s);
        i8042_keyboard_send(s, KBD_REPLY_ACK);
        break;
    case KBD_CMD_RESEND:
        i8042_keyboard_send(s, s->kbd_last_sent);
        break;
    case KBD_CMD_RESET:
        s->kbd_queue.head = s->kbd_queue.count = 0;
        i8042_keyboard_defaults(s);
        s->kbd_leds = 0;
        s->kbd_scanning = true;
        i8042_keyboard_send(s, KBD_REPLY_ACK);
        i8042_keyboard_send(s, KBD_REPLY_BAT_OK);
        break;
    default:
        lemu_log_mask(LOG_GUEST_ERROR,
                      "i8042: unknown keyboard command 0x%02x\n", val);
        i8042_keyboard_send(s, KBD_REPLY_RESEND);
        break;
    }
}

/* A byte for the aux device: nothing is plugged in, so it is refused. */
static void i8042_aux_write(I8042State *s, uint8_t val)
{
    if (!byte_queue_push(&s->aux_queue, KBD_REPLY_RESEND)) {
        return;
    }
    i8042_fill_output(s);
}

static void i8042_set_a20(I8042State *s, bool on)
{
    bool was_on = (s->output_port & I8042_OUT_A20) != 0;

    if (on) {
        s->output_port |= I8042_OUT_A20;
    } else {
        s->output_port &= ~I8042_OUT_A20;
    }
    if (was_on && !on) {
        lemu_log_mask(LOG_UNIMP, "i8042: guest disabled A20; A20 masking "
                      "is not emulated, addresses stay unmasked\n");
    }
}

static void i8042_write_output_port(I8042State *s, uint8_t val)
{
    i8042_set_a20(s, (val & I8042_OUT_A20) != 0);
    s->output_port = (val & ~(I8042_OUT_KBD_OBF | I8042_OUT_AUX_OBF)) |
                     I8042_OUT_RESET;
    if (!(val & I8042_OUT_RESET)) {
        machine_request_reset(DEVICE(s)->machine, SHUTDOWN_CAUSE_GUEST_RESET);
    }
}

static uint8_t i8042_read_output_port(I8042State *s)
{
    uint8_t v = s->output_port & ~(I8042_OUT_KBD_OBF | I8042_OUT_AUX_OBF);

    if (s->obuf_full) {
        v |= s->obuf_aux ? I8042_OUT_AUX_OBF : I8042_OUT_KBD_OBF;
    }
    return v;
}

static void i8042_write_command_byte(I8042State *s, uint8_t val)
{
    s->command_byte = val;
    /* The system flag in the status register follows the command byte. */
    s->status = (s->status & ~I8042_STR_SYS) | (val & I8042_CMD_SYS);
    i8042_fill_output(s);
}

static void i8042_controller_command(I8042State *s, uint8_t cmd)
{
    s->pending_ccmd = 0;

    if (cmd >= I8042_CCMD_PULSE_OUTPUT) {
        /* Low nibble: a 0 bit pulses that output line; line 0 is reset. */
        if (!(cmd & I8042_OUT_RESET)) {
            machine_request_reset(DEVICE(s)->machine,
                                  SHUTDOWN_CAUSE_GUEST_RESET);
        }
        return;
    }

    switch (cmd) {
    case I8042_CCMD_READ_CMD:
        i8042_controller_reply(s, s->command_byte, false);
        break;
    case I8042_CCMD_WRITE_CMD:
    case I8042_CCMD_WRITE_OUTPUT:
    case I8042_CCMD_WRITE_KBD_OB:
    case I8042_CCMD_WRITE_AUX_OB:
    case I8042_CCMD_WRITE_AUX:
        s->pending_ccmd = cmd;
        break;
    case I8042_CCMD_AUX_DISABLE:
        s->command_byte |= I8042_CMD_AUX_DISABLE;
        i8042_fill_output(s);
        break;
    case I8042_CCMD_AUX_ENABLE:
        s->command_byte &= ~I8042_CMD_AUX_DISABLE;
        i8042_fill_output(s);
        break;
    case I8042_CCMD_AUX_TEST:
    case I8042_CCMD_KBD_TEST:
        i8042_controller_reply(s, I8042_INTERFACE_OK, false);
        break;
    case I8042_CCMD_SELF_TEST:
        s->status |= I8042_STR_SYS;
        i8042_controller_reply(s, I8042_SELF_TEST_OK, false);
        break;
    case I8042_CCMD_KBD_DISABLE:
        s->command_byte |= I8042_CMD_KBD_DISABLE;
        i8042_fill_output(s);
        break;
    case I8042_CCMD_KBD_ENABLE:
        s->command_byte &= ~I8042_CMD_KBD_DISABLE;
        i8042_fill_output(s);
        break;
    case I8042_CCMD_READ_INPUT:
        i8042_controller_reply(s, I8042_INPUT_PORT, false);
        break;
    case I8042_CCMD_READ_OUTPUT:
        i8042_controller_reply(s, i8042_read_output_port(s), false);
        break;
    case I8042_CCMD_A20_DISABLE:
        i8042_set_a20(s, false);
        break;
    case I8042_CCMD_A20_ENABLE:
        i8042_set_a20(s, true);
        break;
    default:
        lemu_log_mask(LOG_GUEST_ERROR,
                      "i8042: unknown controller command 0x%02x\n", cmd);
        break;
    }
}

static void i8042_data_write(I8042State *s, uint8_t val)
{
    uint8_t cmd = s->pending_ccmd;

    s->pending_ccmd = 0;
    switch (cmd) {
    case I8042_CCMD_WRITE_CMD:
        i8042_write_command_byte(s, val);
        break;
    case I8042_CCMD_WRITE_OUTPUT:
        i8042_write_output_port(s, val);
        break;
    case I8042_CCMD_WRITE_KBD_OB:
        i8042_controller_reply(s, val, false);
        break;
    case I8042_CCMD_WRITE_AUX_OB:
        i8042_controller_reply(s, val, true);
        break;
    case I8042_CCMD_WRITE_AUX:
        i8042_aux_write(s, val);
        break;
    default:
        i8042_keyboard_write(s, val);
        break;
    }
}

static uint8_t i8042_data_read(I8042State *s)
{
    uint8_t val = s->obuf;

    if (!s->obuf_full) {
        return val;         /* the last byte again, as the chip does */
    }
    s->obuf_full = false;
    /* Drop the line first, so that the next byte is a new edge. */
    i8042_update_irqs(s);
    i8042_fill_output(s);
    return val;
}

static uint8_t i8042_status_read(I8042State *s)
{
    uint8_t v = s->status &
                (I8042_STR_SYS | I8042_STR_A2 | I8042_STR_KEYLOCK);

    if (s->obuf_full) {
        v |= I8042_STR_OBF | (s->obuf_aux ? I8042_STR_AUXB : 0);
    }
    return v;
}

static uint64_t i8042_data_io_read(void *opaque, uint64_t offset,
                                   unsigned size)
{
    return i8042_data_read(opaque);
}

static void i8042_data_io_write(void *opaque, uint64_t offset,
                                uint64_t value, unsigned size)
{
    I8042State *s = opaque;

    s->status &= ~I8042_STR_A2;
    i8042_data_write(s, (uint8_t)value);
}

static uint64_t i8042_cmd_io_read(void *opaque, uint64_t offset,
                                  unsigned size)
{
    return i8042_status_read(opaque);
}

static void i8042_cmd_io_write(void *opaque, uint64_t offset,
                               uint64_t value, unsigned size)
{
    I8042State *s = opaque;

    s->status |= I8042_STR_A2;
    i8042_controller_command(s, (uint8_t)value);
}

static const IoOps i8042_data_io_ops = {
    .read = i8042_data_io_read,
    .write = i8042_data_io_write,
    .impl_min = 1,
    .impl_max = 1,
};

static const IoOps i8042_cmd_io_ops = {
    .read = i8042_cmd_io_read,
    .write = i8042_cmd_io_write,
    .impl_min = 1,
    .impl_max = 1,
};

void i8042_keyboard_put_scancode(Device *dev, uint8_t code)
{
    I8042State *s = (I8042State *)dev;

    g_return_if_fail(dev->cls == &i8042_class);
    if (s->kbd_scanning) {
        i8042_keyboard_send(s, code);
    }
}

static void i8042_reset(Device *dev)
{
    I8042State *s = (I8042State *)dev;

    /* As the BIOS leaves it: self test passed, both interrupts on. */
    s->status = I8042_STR_SYS | I8042_STR_A2 | I8042_STR_KEYLOCK;
    s->command_byte = I8042_CMD_KBD_INT | I8042_CMD_AUX_INT | I8042_CMD_SYS;
    s->output_port = I8042_OUT_RESET | I8042_OUT_A20 | I8042_OUT_LINES;
    s->pending_ccmd = 0;
    s->obuf = 0;
    s->obuf_full = false;
    s->obuf_aux = false;
    s->ctrl_head = s->ctrl_count = 0;
    memset(&s->kbd_queue, 0, sizeof(s->kbd_queue));
    memset(&s->aux_queue, 0, sizeof(s->aux_queue));
    s->kbd_pending_cmd = 0;
    s->kbd_last_sent = 0;
    s->kbd_leds = 0;
    s->kbd_scanning = true;
    i8042_keyboard_defaults(s);
    i8042_update_irqs(s);
}

static void i8042_unrealize(Device *dev)
{
    I8042State *s = (I8042State *)dev;

    if (s->ports_registered) {
        ioport_unregister(dev->machine->io, I8042_DATA_PORT);
        ioport_unregister(dev->machine->io, I8042_COMMAND_PORT);
        s->ports_registered = false;
    }
}

static bool i8042_realize(Device *dev, GError **errp)
{
    I8042State *s = (I8042State *)dev;
    Machine *m = dev->machine;

    if (!ioport_register(m->io, "i8042-data", I8042_DATA_PORT, 1,
                         &i8042_data_io_ops, s, errp)) {
        return false;
    }
    if (!ioport_register(m->io, "i8042-cmd", I8042_COMMAND_PORT, 1,
                         &i8042_cmd_io_ops, s, errp)) {
        ioport_unregister(m->io, I8042_DATA_PORT);
        return false;
    }
    s->ports_registered = true;
    s->irq_kbd = machine_gsi_line(m, I8042_KBD_IRQ);
    s->irq_aux = machine_gsi_line(m, I8042_AUX_IRQ);
    i8042_reset(dev);
    return true;
}

const DeviceClass i8042_class = {
    .name = "i8042",
    .desc = "i8042 PS/2 keyboard controller",
    .instance_size = sizeof(I8042State),
    .user_creatable = false,
    .vmstate = i8042_vmstate,
    .realize = i8042_realize,
    .reset = i8042_reset,
    .unrealize = i8042_unrealize,
};
