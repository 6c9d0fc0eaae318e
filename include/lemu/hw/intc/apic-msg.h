/*
 * An interrupt message on the APIC bus: what the IOAPIC (and later MSI)
 * sends to local APICs, and what a local APIC's ICR sends to the others.
 * The board connects senders to the receivers (apic.h: apic_bus_deliver).
 */
#ifndef LEMU_HW_INTC_APIC_MSG_H
#define LEMU_HW_INTC_APIC_MSG_H

#include <stdbool.h>
#include <stdint.h>

/* Delivery modes, as the redirection table and the ICR encode them. */
typedef enum {
    APIC_DM_FIXED = 0,
    APIC_DM_LOWEST = 1,
    APIC_DM_SMI = 2,
    APIC_DM_NMI = 4,
    APIC_DM_INIT = 5,
    APIC_DM_STARTUP = 6,
    APIC_DM_EXTINT = 7,
} ApicDeliveryMode;

typedef struct ApicMessage {
    uint8_t vector;
    uint8_t delivery_mode;     /* ApicDeliveryMode */
    bool dest_logical;         /* logical (true) or physical destination */
    uint32_t dest;             /* APIC ID, or logical destination mask */
    bool level_triggered;
} ApicMessage;

/* Where a sender hands its messages: set by the board. */
typedef void ApicDeliverFunc(void *opaque, const ApicMessage *msg);

#endif
