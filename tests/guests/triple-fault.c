/*
 * triple-fault: an IDT with limit 0 makes #UD undeliverable, then #DF,
 * then the CPU shuts down. With -no-reboot the VM ends (status 0) and
 * nothing after the announcement may appear.
 */
#include "guest.h"

int guest_main(struct multiboot_info *mbi)
{
    struct {
        uint16_t limit;
        uintptr_t base;
    } __attribute__((packed)) empty_idt = { 0, 0 };

    (void)mbi;
    printf("triple-fault: about to triple fault\n");
    serial_flush();
    __asm__ volatile("lidt %0; ud2" : : "m"(empty_idt));
    printf("triple-fault: still running after the triple fault\n");
    return 1;
}
