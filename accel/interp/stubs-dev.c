/*
 * TEMPORARY, during the parallel build-up of the interpreter: weak
 * stand-ins for every function another file of accel/interp will define,
 * so that each part links and can be tested before the others exist. This
 * file is last in the library, so a real definition always wins. It is
 * deleted once every part has landed.
 */
#include <stdio.h>
#include <stdlib.h>
#include "insn.h"

#define STUB_FAIL(name) \
    do { fprintf(stderr, "interp stub %s called\n", name); abort(); } while (0)
#define W __attribute__((weak))

W void interp_raise(InterpCPU *cpu, int v, uint32_t ec) { STUB_FAIL("interp_raise"); }
W void interp_raise_pf(InterpCPU *cpu, uint64_t lin, uint32_t ec) { STUB_FAIL("interp_raise_pf"); }
W void interp_raise_soft(InterpCPU *cpu, int v, InterpEventKind k, uint64_t n) { STUB_FAIL("interp_raise_soft"); }
W void interp_deliver_exception(InterpCPU *cpu) { STUB_FAIL("interp_deliver_exception"); }
W void interp_deliver_interrupt(InterpCPU *cpu, int v) { STUB_FAIL("interp_deliver_interrupt"); }
W void interp_deliver_nmi(InterpCPU *cpu) { STUB_FAIL("interp_deliver_nmi"); }
W uint64_t interp_get_rflags(InterpCPU *cpu) { STUB_FAIL("interp_get_rflags"); }
W void interp_set_rflags(InterpCPU *cpu, uint64_t v, uint64_t m) { STUB_FAIL("interp_set_rflags"); }
W uint64_t interp_compute_oszapc(InterpCPU *cpu) { STUB_FAIL("interp_compute_oszapc"); }
W bool interp_compute_cf(InterpCPU *cpu) { STUB_FAIL("interp_compute_cf"); }
W bool interp_test_cc(InterpCPU *cpu, int cc) { STUB_FAIL("interp_test_cc"); }
W void interp_update_hflags(InterpCPU *cpu) { STUB_FAIL("interp_update_hflags"); }
W uint64_t interp_linear_slow(InterpCPU *cpu, int seg, uint64_t ea, unsigned size, int acc) { STUB_FAIL("interp_linear_slow"); }
W void interp_load_seg(InterpCPU *cpu, int seg, uint16_t sel) { STUB_FAIL("interp_load_seg"); }
W void interp_far_jmp(InterpCPU *cpu, uint16_t sel, uint64_t off, uint64_t n) { STUB_FAIL("interp_far_jmp"); }
W void interp_far_call(InterpCPU *cpu, uint16_t sel, uint64_t off, unsigned os, uint64_t n) { STUB_FAIL("interp_far_call"); }
W void interp_far_ret(InterpCPU *cpu, unsigned os, uint16_t pop) { STUB_FAIL("interp_far_ret"); }
W void interp_iret(InterpCPU *cpu, unsigned os) { STUB_FAIL("interp_iret"); }
W uint64_t interp_ld_slow(InterpCPU *cpu, uint64_t lin, unsigned size) { STUB_FAIL("interp_ld_slow"); }
W void interp_st_slow(InterpCPU *cpu, uint64_t lin, unsigned size, uint64_t v) { STUB_FAIL("interp_st_slow"); }
W void *interp_get_rmw_ptr(InterpCPU *cpu, uint64_t lin, unsigned size) { STUB_FAIL("interp_get_rmw_ptr"); }
W void interp_atomic_lock(InterpCPU *cpu) { STUB_FAIL("interp_atomic_lock"); }
W void interp_atomic_unlock(InterpCPU *cpu) { STUB_FAIL("interp_atomic_unlock"); }
W uint64_t interp_ld_kernel(InterpCPU *cpu, uint64_t lin, unsigned size) { STUB_FAIL("interp_ld_kernel"); }
W void interp_st_kernel(InterpCPU *cpu, uint64_t lin, unsigned size, uint64_t v) { STUB_FAIL("interp_st_kernel"); }
W const uint8_t *interp_translate_code(InterpCPU *cpu, uint64_t lin, uint64_t *phys, bool raise) { STUB_FAIL("interp_translate_code"); }
W void interp_fetch_slow(InterpCPU *cpu, uint64_t phys, uint8_t *buf, unsigned len) { STUB_FAIL("interp_fetch_slow"); }
W void interp_tlb_flush_all(InterpCPU *cpu) { STUB_FAIL("interp_tlb_flush_all"); }
W void interp_tlb_flush_nonglobal(InterpCPU *cpu) { STUB_FAIL("interp_tlb_flush_nonglobal"); }
W void interp_tlb_flush_page(InterpCPU *cpu, uint64_t lin) { STUB_FAIL("interp_tlb_flush_page"); }
W void interp_tlb_protect_code_page(InterpCPU *cpu, uint64_t phys) { STUB_FAIL("interp_tlb_protect_code_page"); }
W bool interp_phys_read(InterpCPU *cpu, uint64_t phys, void *buf, unsigned len) { STUB_FAIL("interp_phys_read"); }
W bool interp_phys_write(InterpCPU *cpu, uint64_t phys, const void *buf, unsigned len) { STUB_FAIL("interp_phys_write"); }
W uint32_t interp_io_read(InterpCPU *cpu, uint16_t port, unsigned size) { STUB_FAIL("interp_io_read"); }
W void interp_io_write(InterpCPU *cpu, uint16_t port, unsigned size, uint32_t v) { STUB_FAIL("interp_io_write"); }
W bool interp_page_has_code(InterpShared *s, uint64_t phys) { STUB_FAIL("interp_page_has_code"); }
W void interp_code_written(InterpCPU *cpu, uint64_t phys, unsigned len) { STUB_FAIL("interp_code_written"); }
W void interp_cpuid(InterpCPU *cpu, uint32_t leaf, uint32_t sub, CpuidResult *r) { STUB_FAIL("interp_cpuid"); }
W bool interp_has_feature(InterpCPU *cpu, int f) { return true; }
W bool interp_rdmsr(InterpCPU *cpu, uint32_t i, uint64_t *v) { STUB_FAIL("interp_rdmsr"); }
W bool interp_wrmsr(InterpCPU *cpu, uint32_t i, uint64_t v) { STUB_FAIL("interp_wrmsr"); }
W uint64_t interp_read_tsc(InterpCPU *cpu) { STUB_FAIL("interp_read_tsc"); }
W int64_t interp_clock_ns(InterpCPU *cpu) { STUB_FAIL("interp_clock_ns"); }
W void interp_log_cpu(InterpCPU *cpu) { }
W void interp_log_block(InterpCPU *cpu, uint64_t pc, const uint8_t *c, unsigned len) { }
W InterpShared *interp_shared_new(const InterpEnv *env) { STUB_FAIL("interp_shared_new"); }
W void interp_shared_free(InterpShared *s) { STUB_FAIL("interp_shared_free"); }
W InterpCPU *interp_cpu_new(InterpShared *s, unsigned index) { STUB_FAIL("interp_cpu_new"); }
W void interp_cpu_free(InterpCPU *cpu) { STUB_FAIL("interp_cpu_free"); }
W void interp_cpu_set_state(InterpCPU *cpu, const X86CPUState *st) { STUB_FAIL("interp_cpu_set_state"); }
W void interp_cpu_get_state(InterpCPU *cpu, X86CPUState *st) { STUB_FAIL("interp_cpu_get_state"); }
W void interp_cpu_set_stop_on_exception(InterpCPU *cpu, bool stop) { STUB_FAIL("interp_cpu_set_stop_on_exception"); }
W void interp_cpu_last_exception(InterpCPU *cpu, int *v, int64_t *ec) { STUB_FAIL("interp_cpu_last_exception"); }
W InterpExit interp_cpu_exec(InterpCPU *cpu, uint64_t max) { STUB_FAIL("interp_cpu_exec"); }
W void interp_cpu_request_exit(InterpCPU *cpu) { STUB_FAIL("interp_cpu_request_exit"); }
