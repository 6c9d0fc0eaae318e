/*
 * The QMP schema of lemu: every command, event and type, with QEMU's
 * names, in the schema language of monitor-internal.h. qmp-schema.c
 * checks arguments against these tables, answers query-commands and
 * query-qmp-schema from them and writes docs/qmp.md from them
 * (lemu-qmp-docgen), so a command exists in one place only.
 */
#include "monitor/monitor-internal.h"

const QmpCommand qmp_commands[] = {
    {
        .name = "qmp_capabilities",
        .args = "enable?:[QMPCapability]",
        .handler = qmp_qmp_capabilities,
        .flags = QMP_CMD_HIDDEN,
        .doc = "Leaves capabilities negotiation mode: the only command "
               "accepted before it, and refused after it. `enable` lists "
               "capabilities to turn on; lemu offers none, so any value "
               "is refused.",
    },
    {
        .name = "query-version",
        .returns = "VersionInfo",
        .handler = qmp_query_version,
        .doc = "The version of QEMU's QMP that lemu follows (7.2.0, so "
               "that clients which gate features on it work) and, in "
               "`package`, lemu's own name and version.",
    },
    {
        .name = "query-commands",
        .returns = "[CommandInfo]",
        .handler = qmp_query_commands,
        .doc = "The commands this monitor accepts.",
    },
    {
        .name = "query-events",
        .returns = "[EventInfo]",
        .handler = qmp_query_events,
        .doc = "The events lemu may send.",
    },
    {
        .name = "query-qmp-schema",
        .returns = "[SchemaInfo]",
        .handler = qmp_query_qmp_schema,
        .doc = "The whole schema (commands, events and the types they "
               "use) in QEMU's introspection format. Argument types of "
               "commands and events are named `q_obj_NAME-arg`; "
               "`q_empty` is the object without members.",
    },
    {
        .name = "query-status",
        .returns = "StatusInfo",
        .handler = qmp_query_status,
        .doc = "The run state of the VM.",
    },
    {
        .name = "query-name",
        .returns = "NameInfo",
        .handler = qmp_query_name,
        .doc = "The name given with -name; `{}` when there is none.",
    },
    {
        .name = "query-uuid",
        .returns = "UuidInfo",
        .handler = qmp_query_uuid,
        .doc = "The UUID given with -uuid, or the nil UUID "
               "00000000-0000-0000-0000-000000000000 without it.",
    },
    {
        .name = "query-kvm",
        .returns = "KvmInfo",
        .handler = qmp_query_kvm,
        .doc = "Whether the VM runs on KVM (`enabled`) and whether "
               "/dev/kvm can be opened on this host (`present`).",
    },
    {
        .name = "query-target",
        .returns = "TargetInfo",
        .handler = qmp_query_target,
        .doc = "The guest architecture: always x86_64.",
    },
    {
        .name = "query-machines",
        .returns = "[MachineInfo]",
        .handler = qmp_query_machines,
        .doc = "The machine types lemu can build (only `pc`).",
    },
    {
        .name = "query-cpus-fast",
        .returns = "[CpuInfoFast]",
        .handler = qmp_query_cpus_fast,
        .doc = "Each vCPU with the host thread that runs it and its "
               "place in the topology (one socket of -smp cores). Does "
               "not interrupt the vCPUs.",
    },
    {
        .name = "query-chardev",
        .returns = "[ChardevInfo]",
        .handler = qmp_query_chardev,
        .doc = "The character devices (-chardev, -serial, -qmp, "
               "-monitor backends) and whether a frontend uses each.",
    },
    {
        .name = "query-block",
        .returns = "[BlockInfo]",
        .handler = qmp_query_block,
        .doc = "The disks: each -drive (and each -blockdev node a device "
               "uses) with the device that uses it, its image chain, "
               "cache mode and, for a device that can stop on errors, its "
               "`io-status` (`failed` or `nospace` while werror=stop "
               "holds the VM in io-error). Throttling limits are always "
               "0.",
    },
    {
        .name = "query-blockstats",
        .returns = "[BlockStats]",
        .handler = qmp_query_blockstats,
        .doc = "I/O counters of each disk listed by query-block: bytes "
               "and requests read, written, flushed and discarded, and "
               "failed requests. lemu does not measure times or merges: "
               "those members are 0.",
    },
    {
        .name = "stop",
        .handler = qmp_stop,
        .doc = "Pauses the VM (event STOP) if it runs. A VM that was not "
               "started yet (-S) stays in prelaunch.",
    },
    {
        .name = "cont",
        .handler = qmp_cont,
        .flags = QMP_CMD_STARTS_VCPUS,
        .doc = "Starts or resumes the VM (event RESUME); nothing happens "
               "when it already runs. After a guest shutdown "
               "(-no-shutdown) or an internal error the VM must be reset "
               "first (system_reset).",
    },
    {
        .name = "system_reset",
        .handler = qmp_system_reset,
        .doc = "Resets the machine as the reset button does; event RESET "
               "with reason host-qmp-system-reset once done. A VM that "
               "was running goes on running.",
    },
    {
        .name = "system_powerdown",
        .handler = qmp_system_powerdown,
        .doc = "Presses the ACPI power button (event POWERDOWN). A guest "
               "with an ACPI driver then shuts down; others ignore it.",
    },
    {
        .name = "quit",
        .handler = qmp_quit,
        .flags = QMP_CMD_ENDS_PROCESS,
        .doc = "Ends lemu: the reply, then event SHUTDOWN with reason "
               "host-qmp-quit, then the process exits with status 0.",
    },
    {
        .name = "inject-nmi",
        .handler = qmp_inject_nmi,
        .doc = "Makes a non-maskable interrupt pending on every vCPU; a "
               "paused vCPU takes it when it runs again.",
    },
    {
        .name = "memsave",
        .args = "val:int size:int filename:str cpu-index?:int",
        .handler = qmp_memsave,
        .flags = QMP_CMD_HOST_FILES,
        .doc = "Writes `size` bytes of guest memory from virtual address "
               "`val`, translated through the page tables of vCPU "
               "`cpu-index` (default 0), to the host file `filename` "
               "(created with mode 0600, or truncated). Fails without "
               "touching the file when any page of the range is not "
               "mapped.",
    },
    {
        .name = "pmemsave",
        .args = "val:int size:int filename:str",
        .handler = qmp_pmemsave,
        .flags = QMP_CMD_HOST_FILES,
        .doc = "Writes `size` bytes of guest physical memory from address "
               "`val` to the host file `filename` (created with mode "
               "0600, or truncated). Fails without touching the file "
               "when any byte of the range is not mapped.",
    },
    {
        .name = "human-monitor-command",
        .args = "command-line:str cpu-index?:int",
        .returns = "str",
        .handler = qmp_human_monitor_command,
        .flags = QMP_CMD_HIDDEN,
        .doc = "Runs one command of the human monitor (HMP), with "
               "`cpu-index` as its current vCPU, and returns what it "
               "printed.",
    },
    {
        .name = "x-query-registers",
        .args = "cpu-index?:int",
        .returns = "HumanReadableText",
        .handler = qmp_x_query_registers,
        .doc = "The registers of every vCPU, or of vCPU `cpu-index`, as "
               "HMP `info registers` prints them. Unstable: the text may "
               "change.",
    },
    {
        .name = "x-query-mtree",
        .returns = "HumanReadableText",
        .handler = qmp_x_query_mtree,
        .doc = "The guest memory map and port I/O map, as HMP `info "
               "mtree` prints them. Unstable: the text may change.",
    },
    {
        .name = "x-query-qtree",
        .returns = "HumanReadableText",
        .handler = qmp_x_query_qtree,
        .doc = "The devices with their properties, as HMP `info qtree` "
               "prints them. Unstable: the text may change.",
    },
    { .name = NULL },
};

const QmpEvent qmp_events[] = {
    {
        .name = "STOP",
        .data = "",
        .doc = "The VM was paused (stop, or -no-shutdown after a guest "
               "poweroff).",
    },
    {
        .name = "RESUME",
        .data = "",
        .doc = "The VM started or resumed running.",
    },
    {
        .name = "RESET",
        .data = "guest:bool reason:ShutdownCause",
        .doc = "The machine was reset; `guest` tells whether the guest "
               "asked for it.",
    },
    {
        .name = "SHUTDOWN",
        .data = "guest:bool reason:ShutdownCause",
        .doc = "The VM is shutting down (or, for a guest poweroff with "
               "-no-shutdown, stopped in state shutdown).",
    },
    {
        .name = "POWERDOWN",
        .data = "",
        .doc = "The ACPI power button was pressed (system_powerdown).",
    },
    {
        .name = "BLOCK_IO_ERROR",
        .data = "device:str node-name?:str operation:IoOperationType "
                "action:BlockErrorAction nospace?:bool reason:str",
        .doc = "A disk request failed; `action` is what lemu did about "
               "it, `nospace` whether the host ran out of space.",
    },
    {
        .name = "DEVICE_DELETED",
        .data = "device?:str path:str",
        .doc = "A device was unplugged and is gone.",
    },
    { .name = NULL },
};

const QmpTypeDef qmp_types[] = {
    {
        .name = "QMPCapability",
        .kind = QMP_TYPE_ENUM,
        .members = "oob",
        .doc = "Capabilities of QEMU's QMP; lemu offers none of them.",
    },
    {
        .name = "VersionTriple",
        .kind = QMP_TYPE_OBJECT,
        .members = "major:int minor:int micro:int",
        .doc = "A version number.",
    },
    {
        .name = "VersionInfo",
        .kind = QMP_TYPE_OBJECT,
        .members = "qemu:VersionTriple package:str",
        .doc = "The QEMU version whose QMP lemu follows, and the program "
               "that answers (\"lemu VERSION\").",
    },
    {
        .name = "CommandInfo",
        .kind = QMP_TYPE_OBJECT,
        .members = "name:str",
        .doc = "A command name.",
    },
    {
        .name = "EventInfo",
        .kind = QMP_TYPE_OBJECT,
        .members = "name:str",
        .doc = "An event name.",
    },
    {
        .name = "SchemaMetaType",
        .kind = QMP_TYPE_ENUM,
        .members = "builtin enum array object alternate command event",
        .doc = "The kinds of entity in query-qmp-schema.",
    },
    {
        .name = "JSONType",
        .kind = QMP_TYPE_ENUM,
        .members = "string number int boolean null object array value",
        .doc = "The JSON type of a builtin type (`value`: any).",
    },
    {
        .name = "SchemaInfo",
        .kind = QMP_TYPE_OBJECT,
        .members = "name:str meta-type:SchemaMetaType json-type?:JSONType "
                   "values?:[str] members?:[any] element-type?:str "
                   "arg-type?:str ret-type?:str",
        .doc = "One entity of the schema. Which other members it has "
               "depends on `meta-type`: builtin `json-type`; enum "
               "`values` (and `members`, each {name}); array "
               "`element-type`; object `members`, each {name, type} plus "
               "\"default\": null when optional; command `arg-type` and "
               "`ret-type`; event `arg-type`.",
    },
    {
        .name = "RunState",
        .kind = QMP_TYPE_ENUM,
        .members = "debug inmigrate internal-error io-error paused "
                   "postmigrate prelaunch finish-migrate restore-vm "
                   "running save-vm shutdown suspended watchdog "
                   "guest-panicked colo",
        .doc = "The run states of QEMU; lemu uses prelaunch (built, not "
               "started: -S), running, paused, shutdown (guest poweroff "
               "with -no-shutdown), internal-error (the accelerator "
               "failed) and io-error (a disk error with werror=stop or "
               "rerror=stop; `cont` retries the request).",
    },
    {
        .name = "StatusInfo",
        .kind = QMP_TYPE_OBJECT,
        .members = "running:bool singlestep:bool status:RunState",
        .doc = "Whether the vCPUs run, and the run state (`singlestep` is "
               "always false).",
    },
    {
        .name = "NameInfo",
        .kind = QMP_TYPE_OBJECT,
        .members = "name?:str",
        .doc = "The VM's name, when it has one.",
    },
    {
        .name = "UuidInfo",
        .kind = QMP_TYPE_OBJECT,
        .members = "UUID:str",
        .doc = "The VM's UUID in canonical form.",
    },
    {
        .name = "KvmInfo",
        .kind = QMP_TYPE_OBJECT,
        .members = "enabled:bool present:bool",
        .doc = "KVM in use, and KVM usable on the host.",
    },
    {
        .name = "SysEmuTarget",
        .kind = QMP_TYPE_ENUM,
        .members = "aarch64 alpha arm avr cris hppa i386 loongarch64 m68k "
                   "microblaze microblazeel mips mips64 mips64el mipsel "
                   "nios2 or1k ppc ppc64 riscv32 riscv64 rx s390x sh4 "
                   "sh4eb sparc sparc64 tricore x86_64 xtensa xtensaeb",
        .doc = "QEMU's target architectures; lemu is x86_64.",
    },
    {
        .name = "TargetInfo",
        .kind = QMP_TYPE_OBJECT,
        .members = "arch:SysEmuTarget",
        .doc = "The guest architecture.",
    },
    {
        .name = "MachineInfo",
        .kind = QMP_TYPE_OBJECT,
        .members = "name:str alias?:str is-default?:bool cpu-max:int "
                   "hotpluggable-cpus:bool numa-mem-supported:bool "
                   "deprecated:bool default-cpu-type?:str "
                   "default-ram-id?:str",
        .doc = "A machine type: its name, whether it is the default "
               "(present only when true), the most vCPUs it takes, and "
               "the name of its RAM.",
    },
    {
        .name = "CpuInstanceProperties",
        .kind = QMP_TYPE_OBJECT,
        .members = "node-id?:int socket-id?:int die-id?:int "
                   "cluster-id?:int core-id?:int thread-id?:int",
        .doc = "Where a vCPU sits in the topology.",
    },
    {
        .name = "CpuInfoFast",
        .kind = QMP_TYPE_OBJECT,
        .members = "cpu-index:int qom-path:str thread-id:int "
                   "props?:CpuInstanceProperties target:SysEmuTarget",
        .doc = "A vCPU: its index, QOM path as QEMU names it, the host "
               "thread ID (Linux TID) that runs it, its topology.",
    },
    {
        .name = "ChardevInfo",
        .kind = QMP_TYPE_OBJECT,
        .members = "label:str filename:str frontend-open:bool",
        .doc = "A character device: its id, its backend in the short "
               "form of -serial (\"stdio\", \"file:PATH\", "
               "\"unix:PATH,server=on\"), whether a device or monitor "
               "uses it.",
    },
    {
        .name = "HumanReadableText",
        .kind = QMP_TYPE_OBJECT,
        .members = "human-readable-text:str",
        .doc = "Text for people, as the human monitor prints it.",
    },
    {
        .name = "ShutdownCause",
        .kind = QMP_TYPE_ENUM,
        .members = "none host-error host-qmp-quit host-qmp-system-reset "
                   "host-signal host-ui guest-shutdown guest-reset "
                   "guest-panic subsystem-reset snapshot-load",
        .doc = "Why the VM shut down or reset: host-qmp-quit (quit), "
               "host-qmp-system-reset (system_reset), host-signal "
               "(SIGINT, SIGTERM), host-ui (Ctrl-a x), guest-shutdown "
               "(ACPI poweroff), guest-reset (reset from the guest, "
               "triple fault), guest-panic.",
    },
    {
        .name = "IoOperationType",
        .kind = QMP_TYPE_ENUM,
        .members = "read write",
        .doc = "The direction of a failed disk request.",
    },
    {
        .name = "BlockErrorAction",
        .kind = QMP_TYPE_ENUM,
        .members = "ignore report stop",
        .doc = "What lemu did about a disk error: went on, reported it "
               "to the guest, or paused the VM.",
    },
    {
        .name = "BlockDeviceIoStatus",
        .kind = QMP_TYPE_ENUM,
        .members = "ok failed nospace",
        .doc = "Whether a disk's device was stopped by an I/O error "
               "(`nospace`: the host ran out of space).",
    },
    {
        .name = "BlockdevDetectZeroesOptions",
        .kind = QMP_TYPE_ENUM,
        .members = "off on unmap",
        .doc = "Whether writes of zeroes are detected; lemu: always off.",
    },
    {
        .name = "BlockdevCacheInfo",
        .kind = QMP_TYPE_OBJECT,
        .members = "writeback:bool direct:bool no-flush:bool",
        .doc = "The cache mode: write cache on, O_DIRECT, flushes "
               "ignored (cache=unsafe).",
    },
    {
        .name = "SnapshotInfo",
        .kind = QMP_TYPE_OBJECT,
        .members = "id:str name:str vm-state-size:int date-sec:int "
                   "date-nsec:int vm-clock-sec:int vm-clock-nsec:int "
                   "icount?:int",
        .doc = "An internal snapshot of an image.",
    },
    {
        .name = "ImageInfo",
        .kind = QMP_TYPE_OBJECT,
        .members = "filename:str format:str dirty-flag?:bool "
                   "actual-size?:int virtual-size:int cluster-size?:int "
                   "encrypted?:bool compressed?:bool "
                   "backing-filename?:str full-backing-filename?:str "
                   "backing-filename-format?:str snapshots?:[SnapshotInfo] "
                   "backing-image?:ImageInfo format-specific?:any",
        .doc = "An image as `qemu-img info` describes it: sizes in bytes "
               "(`actual-size`: host space used), its backing image, and "
               "`format-specific` ({\"type\": \"qcow2\", \"data\": "
               "{...}} for qcow2).",
    },
    {
        .name = "BlockDeviceInfo",
        .kind = QMP_TYPE_OBJECT,
        .members = "file:str node-name?:str ro:bool drv:str "
                   "backing_file?:str backing_file_depth:int encrypted:bool "
                   "detect_zeroes:BlockdevDetectZeroesOptions bps:int "
                   "bps_rd:int bps_wr:int iops:int iops_rd:int iops_wr:int "
                   "image:ImageInfo cache:BlockdevCacheInfo "
                   "write_threshold:int",
        .doc = "The node a disk has inserted: file, format driver, "
               "read-only, backing chain depth, image and cache mode.",
    },
    {
        .name = "BlockInfo",
        .kind = QMP_TYPE_OBJECT,
        .members = "device:str qdev?:str type:str removable:bool "
                   "locked:bool inserted?:BlockDeviceInfo tray_open?:bool "
                   "io-status?:BlockDeviceIoStatus",
        .doc = "A disk: its drive id (`\"\"` for a -blockdev node), the "
               "QOM path of the device using it (`qdev`), what it has "
               "inserted. `type` is always \"unknown\", as in QEMU.",
    },
    {
        .name = "BlockDeviceStats",
        .kind = QMP_TYPE_OBJECT,
        .members = "rd_bytes:int wr_bytes:int unmap_bytes:int "
                   "rd_operations:int wr_operations:int "
                   "flush_operations:int unmap_operations:int "
                   "rd_total_time_ns:int wr_total_time_ns:int "
                   "flush_total_time_ns:int unmap_total_time_ns:int "
                   "wr_highest_offset:int rd_merged:int wr_merged:int "
                   "unmap_merged:int idle_time_ns?:int "
                   "failed_rd_operations:int failed_wr_operations:int "
                   "failed_flush_operations:int "
                   "failed_unmap_operations:int invalid_rd_operations:int "
                   "invalid_wr_operations:int invalid_flush_operations:int "
                   "invalid_unmap_operations:int account_invalid:bool "
                   "account_failed:bool timed_stats:[any]",
        .doc = "I/O counters of a disk.",
    },
    {
        .name = "BlockStats",
        .kind = QMP_TYPE_OBJECT,
        .members = "device?:str qdev?:str node-name?:str "
                   "stats:BlockDeviceStats parent?:BlockStats "
                   "backing?:BlockStats driver-specific?:any",
        .doc = "The counters of one disk.",
    },
    { .name = NULL },
};
