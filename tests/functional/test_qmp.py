#!/usr/bin/env python3
"""QMP on the wire: the same cases run against lemu (class Lemu*) and, when
qemu-system-x86_64 is installed, against QEMU (class Qemu*), which shows
that lemu speaks QEMU's protocol. Cases that only lemu can pass (several
clients on one socket, its 1 MiB request limit, ...) call lemu_only() and
are skipped for QEMU with the reason.

Each VM is a stopped pc machine with a few bytes of real-mode guest code
and its QMP socket in a temporary directory (see qmp_client.VM)."""
import json
import os
import select
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest

import lemutest
from qmp_client import (LEMU, QEMU, HALT_FOREVER, VM, QMPClient, QMPClosed,
                        free_tcp_port, out_char)

QMP_SHELL = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         "..", "..", "scripts", "qmp-shell")

# The commands of the issue, each with the arguments that make it succeed
# on a stopped machine (None: not run by test_every_command_answers).
COMMANDS = [
    "qmp_capabilities", "query-version", "query-commands", "query-status",
    "query-name", "query-uuid", "query-kvm", "query-target",
    "query-machines", "query-cpus-fast", "query-chardev", "query-events",
    "query-qmp-schema", "stop", "cont", "system_reset", "system_powerdown",
    "quit", "inject-nmi", "memsave", "pmemsave", "human-monitor-command",
    "x-query-registers", "x-query-mtree", "x-query-qtree",
]
# Commands QEMU 7.2 lacks or builds only in some configurations.
NOT_IN_ALL_QEMUS = {"query-events", "x-query-registers", "x-query-mtree",
                    "x-query-qtree"}
EVENTS = ["STOP", "RESUME", "RESET", "SHUTDOWN", "POWERDOWN"]
RUN_STATES = set("debug inmigrate internal-error io-error paused postmigrate "
                 "prelaunch finish-migrate restore-vm running save-vm "
                 "shutdown suspended watchdog guest-panicked colo".split())
GREETING_PREFIX = (b'{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, '
                   b'"major": 7}, "package": "lemu ')
DATA_ADDR = 0x200000


def have_kvm():
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
        return True
    except OSError:
        return False


class QmpTestBase:
    """The cases; subclasses set KIND to "lemu" or "qemu"."""
    KIND = None

    def setUp(self):
        if self.KIND == "qemu" and not QEMU:
            self.skipTest("qemu-system-x86_64 is not installed")
        if self.KIND == "lemu" and not os.access(LEMU, os.X_OK):
            self.skipTest("lemu binary %s not built" % LEMU)

    def lemu_only(self, why):
        if self.KIND != "lemu":
            self.skipTest("lemu-only: " + why)

    def vm(self, **kw):
        vm = VM(self.KIND, **kw)
        self.addCleanup(vm.shutdown)
        return vm.launch()

    def client(self, **kw):
        """A VM and a negotiated client on its unix socket."""
        vm = self.vm(**kw)
        return vm, vm.connect()

    # -- assertions on what a client sees -------------------------------

    def assert_wire(self, c):
        """Every line ends in CRLF and is compact JSON as QEMU writes it
        (", " and ": " separators, no other whitespace)."""
        self.assertEqual(c.bad_line_endings(), [])
        for line in c.lines:
            if line.strip():
                self.assertEqual(line, json.dumps(json.loads(line)).encode()
                                 + b"\r\n")

    def assert_error(self, reply, cls="GenericError", desc=None):
        self.assertIn("error", reply, reply)
        self.assertEqual(reply["error"]["class"], cls, reply)
        self.assertIsInstance(reply["error"]["desc"], str)
        if desc is not None:
            self.assertEqual(reply["error"]["desc"], desc)

    def assert_alive(self, c, tag="alive"):
        """The session still answers, and nothing else was queued."""
        self.assertEqual(c.request("query-name", id=tag),
                         {"return": {}, "id": tag})

    def assert_timestamp(self, ev):
        ts = ev["timestamp"]
        self.assertEqual(set(ts), {"seconds", "microseconds"})
        self.assertIsInstance(ts["seconds"], int)
        self.assertIsInstance(ts["microseconds"], int)
        self.assertTrue(0 <= ts["microseconds"] < 1000000, ts)
        self.assertLess(abs(ts["seconds"] + ts["microseconds"] / 1e6
                            - time.time()), 60)

    def status(self, c):
        return c.cmd("query-status")["status"]

    def commands(self, c):
        return {x["name"] for x in c.cmd("query-commands")}

    def need_command(self, c, name):
        if name not in self.commands(c):
            self.assertNotEqual(self.KIND, "lemu", "lemu lacks " + name)
            self.skipTest("this QEMU has no " + name)

    # -- greeting and negotiation ---------------------------------------

    def test_greeting(self):
        vm = self.vm()
        c = vm.connect(negotiate=False)
        g = c.greeting
        self.assertEqual(list(g), ["QMP"])
        self.assertEqual(set(g["QMP"]), {"version", "capabilities"})
        ver = g["QMP"]["version"]
        self.assertEqual(set(ver), {"qemu", "package"})
        self.assertEqual(set(ver["qemu"]), {"major", "minor", "micro"})
        for v in ver["qemu"].values():
            self.assertIsInstance(v, int)
        self.assertIsInstance(ver["package"], str)
        self.assertIsInstance(g["QMP"]["capabilities"], list)
        self.assertEqual(len(c.lines), 1)
        self.assertTrue(c.lines[0].endswith(b"}}\r\n"))
        if self.KIND == "lemu":
            self.assertTrue(c.lines[0].startswith(GREETING_PREFIX), c.lines)
            self.assertTrue(c.lines[0].endswith(b'"}, "capabilities": []}}\r\n'))
        c.negotiate()
        self.assertEqual(c.cmd("query-version"), ver)
        self.assert_wire(c)

    def test_negotiation(self):
        vm = self.vm()
        c = vm.connect(negotiate=False)
        for name in ("query-status", "stop", "quit", "no-such-command"):
            self.assert_error(c.request(name, id=1), "CommandNotFound",
                              "Expecting capabilities negotiation with "
                              "'qmp_capabilities'")
        self.assertEqual(c.request("qmp_capabilities", id="n"),
                         {"return": {}, "id": "n"})
        self.assert_error(c.request("qmp_capabilities"), "CommandNotFound",
                          "Capabilities negotiation is already complete, "
                          "command ignored")
        self.assertEqual(self.status(c), "prelaunch")
        self.assert_wire(c)

    def test_negotiation_capabilities(self):
        vm = self.vm()
        c = vm.connect(negotiate=False)
        caps = c.greeting["QMP"]["capabilities"]
        reply = c.request("qmp_capabilities", {"enable": ["xyz"]})
        self.assert_error(reply, "GenericError")
        self.assertRegex(reply["error"]["desc"],
                         r"^Parameter '\w+' does not accept value 'xyz'$")
        if self.KIND == "lemu":
            self.assertEqual(reply["error"]["desc"],
                             "Parameter 'enable' does not accept value 'xyz'")
        self.assert_error(c.request("qmp_capabilities", {"enable": "oob"}),
                          "GenericError", "Invalid parameter type for "
                          "'enable', expected: array")
        reply = c.request("qmp_capabilities", {"enable": ["oob"]})
        if "oob" in caps:     # QEMU offers out-of-band on this transport
            self.assertEqual(reply, {"return": {}})
        else:
            self.assert_error(reply, "GenericError",
                              "Capability 'oob' not available")
            c.negotiate()
        self.assertEqual(self.status(c), "prelaunch")

    # -- requests -------------------------------------------------------

    def test_id_echo(self):
        vm, c = self.client()
        for ident in ("a string", 42, -7, 1.5, {"a": [1, {"b": None}]},
                      [1, "two"], None, True, ""):
            self.assertEqual(c.request("query-name", id=ident),
                             {"return": {}, "id": ident})
            reply = c.request("no-such-command", id=ident)
            self.assertEqual(reply.get("id", "missing"), ident)
            self.assert_error(reply, "CommandNotFound",
                              "The command no-such-command has not been found")
            reply = c.request("memsave", {"val": 0}, id=ident)
            self.assertEqual(reply.get("id", "missing"), ident)
            self.assert_error(reply, "GenericError",
                              "Parameter 'size' is missing")
        self.assertNotIn("id", c.request("query-name"))
        self.assert_wire(c)

    def test_bad_requests_get_errors_and_session_goes_on(self):
        vm, c = self.client()
        cases = [
            (b'{"execute": }', None),
            (b'{]', None),
            (b'xyz', None),
            (b'[]', "QMP input must be a JSON object"),
            (b'3', "QMP input must be a JSON object"),
            (b'"execute"', "QMP input must be a JSON object"),
            (b'{"execute": "query-name", "foo": 1}',
             "QMP input member 'foo' is unexpected"),
            (b'{"arguments": {}}', "QMP input lacks member 'execute'"),
            (b'{}', "QMP input lacks member 'execute'"),
            (b'{"execute": 3}', "QMP input member 'execute' must be a string"),
            (b'{"execute": ["query-name"]}',
             "QMP input member 'execute' must be a string"),
            (b'{"execute": "query-name", "arguments": []}',
             "QMP input member 'arguments' must be an object"),
            (b'{"execute": "query-name", "arguments": "x"}',
             "QMP input member 'arguments' must be an object"),
        ]
        for i, (raw, desc) in enumerate(cases):
            with self.subTest(request=raw):
                c.send_bytes(raw + b"\n")
                reply = c.read_reply()
                self.assert_error(reply, "GenericError", desc)
                if desc is None:
                    self.assertTrue(reply["error"]["desc"].startswith(
                        "JSON parse error, "), reply)
                self.assert_alive(c, i)
        self.assert_wire(c)

    def test_unknown_command_and_bad_arguments(self):
        vm, c = self.client()
        cases = [
            ("no-such-command", None, "CommandNotFound",
             "The command no-such-command has not been found"),
            ("memsave", {"val": 0}, "GenericError",
             "Parameter 'size' is missing"),
            ("memsave", {"size": 1, "filename": "/dev/null"}, "GenericError",
             "Parameter 'val' is missing"),
            ("query-status", {"x": 1}, "GenericError",
             "Parameter 'x' is unexpected"),
            ("memsave", {"val": "a", "size": 1, "filename": "/dev/null"},
             "GenericError",
             "Invalid parameter type for 'val', expected: integer"),
            ("memsave", {"val": 0, "size": 1.5, "filename": "/dev/null"},
             "GenericError",
             "Invalid parameter type for 'size', expected: integer"),
            ("memsave", {"val": 0, "size": None, "filename": "/dev/null"},
             "GenericError",
             "Invalid parameter type for 'size', expected: integer"),
            ("pmemsave", {"val": 0, "size": 1, "filename": {}},
             "GenericError",
             "Invalid parameter type for 'filename', expected: string"),
            ("human-monitor-command", {"command-line": 5}, "GenericError",
             "Invalid parameter type for 'command-line', expected: string"),
            ("human-monitor-command", {"command-line": True}, "GenericError",
             "Invalid parameter type for 'command-line', expected: string"),
        ]
        for i, (name, args, cls, desc) in enumerate(cases):
            with self.subTest(command=name, arguments=args):
                self.assert_error(c.request(name, args), cls, desc)
                self.assert_alive(c, i)

    def test_arguments_checked_before_side_effects(self):
        vm, c = self.client()
        c.cmd("cont")
        c.wait_event("RESUME")
        self.assert_error(c.request("stop", {"bogus": 1}), "GenericError",
                          "Parameter 'bogus' is unexpected")
        self.assert_error(c.request("system_reset", {"x": None}),
                          "GenericError", "Parameter 'x' is unexpected")
        self.assert_error(c.request("quit", {"now": True}), "GenericError",
                          "Parameter 'now' is unexpected")
        self.assertEqual(self.status(c), "running")
        self.assertTrue(c.no_message(0.5))      # no STOP, RESET, SHUTDOWN
        self.assertIsNone(vm.proc.poll())

    def test_split_input(self):
        vm, c = self.client()
        raw = b'{"execute": "query-status", "id": "split"}\n'
        for i in range(len(raw)):
            c.send_bytes(raw[i:i + 1])
            time.sleep(0.01)
        reply = c.read_reply()
        self.assertEqual(reply["id"], "split")
        self.assertEqual(reply["return"]["status"], "prelaunch")
        # Split in the middle of a string, a number and an escape.
        for part in (b'{"execute": "query-', b'name", "id": 12',
                     b'34, "arguments": {}}'):
            c.send_bytes(part)
            time.sleep(0.2)
        self.assertEqual(c.read_reply(), {"return": {}, "id": 1234})

    def test_several_requests_in_one_send(self):
        vm, c = self.client()
        c.send_bytes(b'{"execute": "query-name", "id": 1}'
                     b'{"execute": "query-target", "id": 2}\n'
                     b'{"execute": "nope", "id": 3}\r\n'
                     b'{"execute": "query-uuid", "id": 4}\n')
        self.assertEqual(c.read_reply(), {"return": {}, "id": 1})
        self.assertEqual(c.read_reply(),
                         {"return": {"arch": "x86_64"}, "id": 2})
        self.assertEqual(c.read_reply()["id"], 3)
        self.assertEqual(c.read_reply()["id"], 4)
        self.assert_wire(c)

    def test_oversized_request(self):
        self.lemu_only("lemu refuses requests over 1 MiB (QEMU: 64 MiB)")
        vm, c = self.client()
        big = (b'{"execute": "query-name", "id": "big", "arguments": {"x": "'
               + b"A" * (1100 * 1024) + b'"}}\n')
        c.send_bytes(big)
        self.assert_error(c.read_reply(), "GenericError")
        self.assert_alive(c, "after-big")
        # Also a huge value split over many sends, and a huge array.
        c.send_bytes(b'{"execute": "query-name", "id": [')
        for _ in range(40):
            c.send_bytes(b"1, " * 16384)
        c.send_bytes(b'1]}\n')
        self.assert_error(c.read_reply(), "GenericError")
        self.assert_alive(c, "after-array")

    def test_deep_nesting(self):
        self.lemu_only("lemu refuses nesting over 64 and skips the rest of "
                       "the request; QEMU's limit is 1024 and it reports "
                       "every closing bracket left over")
        vm, c = self.client()
        for depth in (100, 5000):
            with self.subTest(depth=depth):
                c.send_bytes(b'{"execute": "query-name", "id": '
                             + b"[" * depth + b"]" * depth + b"}\n")
                self.assert_error(c.read_reply(), "GenericError")
                self.assert_alive(c, depth)
        c.send_bytes(b'{"execute": "query-name", "id": '
                     + b'{"a": ' * 200 + b"1" + b"}" * 200 + b"}\n")
        self.assert_error(c.read_reply(), "GenericError")
        self.assert_alive(c, "objects")
        # A depth within the limit works.
        ident = json.loads(b"[" * 20 + b"]" * 20)
        self.assertEqual(c.request("query-name", id=ident),
                         {"return": {}, "id": ident})

    def test_invalid_utf8_and_control_bytes(self):
        vm, c = self.client()
        c.send_bytes(b'{"execute": "query-name", "id": "\xff\xfe"}\n')
        reply = c.read_reply()
        if "error" in reply:
            self.assert_error(reply)
        c.send_bytes(b'\x00\x01\x02{"execute": "query-name"}\n')
        reply = c.read_reply()
        while "error" in reply:      # errors for the stray bytes, then ours
            reply = c.read_reply()
        self.assertEqual(reply, {"return": {}})
        self.assert_alive(c)

    # -- commands -------------------------------------------------------

    def test_query_commands_lists_them_all(self):
        vm, c = self.client()
        listed = c.cmd("query-commands")
        self.assertIsInstance(listed, list)
        for entry in listed:
            self.assertIsInstance(entry["name"], str)
        names = {x["name"] for x in listed}
        for name in COMMANDS:
            if self.KIND == "qemu" and name in NOT_IN_ALL_QEMUS:
                continue
            self.assertIn(name, names)

    def test_query_qmp_schema(self):
        vm, c = self.client()
        schema = c.cmd("query-qmp-schema")
        self.assertIsInstance(schema, list)
        by_name = {}
        metas = {"builtin", "enum", "array", "object", "command", "event",
                 "alternate"}
        for e in schema:
            self.assertIsInstance(e, dict)
            self.assertIsInstance(e["name"], str)
            self.assertIn(e["meta-type"], metas, e)
            self.assertNotIn(e["name"], by_name)
            by_name[e["name"]] = e
        if self.KIND == "lemu":
            self.assertNotIn("alternate", {e["meta-type"] for e in schema})
        for name in self.commands(c):
            with self.subTest(command=name):
                e = by_name[name]
                self.assertEqual(e["meta-type"], "command")
                self.assertEqual(by_name[e["arg-type"]]["meta-type"], "object")
                self.assertIn(e["ret-type"], by_name)
        for name in EVENTS:
            self.assertEqual(by_name[name]["meta-type"], "event")
            self.assertEqual(by_name[by_name[name]["arg-type"]]["meta-type"],
                             "object")
        for e in schema:      # every type an entry refers to is there
            if e["meta-type"] == "object":
                for m in e["members"]:
                    self.assertIn(m["type"], by_name, e)
            elif e["meta-type"] == "array":
                self.assertIn(e["element-type"], by_name, e)
            elif e["meta-type"] == "enum":
                self.assertTrue(all(isinstance(v, str) for v in e["values"]))
            elif e["meta-type"] == "builtin":
                self.assertIn(e["json-type"], {"string", "number", "int",
                                               "boolean", "null", "object",
                                               "array", "value"})
        # memsave's arguments, as the schema describes them
        args = by_name[by_name["memsave"]["arg-type"]]["members"]
        members = {m["name"]: m for m in args}
        self.assertEqual(set(members), {"val", "size", "filename",
                                        "cpu-index"})
        self.assertIn("default", members["cpu-index"])
        self.assertNotIn("default", members["val"])
        self.assertEqual(by_name[members["val"]["type"]]["json-type"], "int")

    def test_query_shapes(self):
        vm, c = self.client()
        ver = c.cmd("query-version")
        self.assertEqual(set(ver), {"qemu", "package"})
        self.assertEqual(set(ver["qemu"]), {"major", "minor", "micro"})
        self.assertTrue(all(isinstance(v, int) for v in ver["qemu"].values()))
        if self.KIND == "lemu":
            self.assertEqual(ver["qemu"], {"major": 7, "minor": 2, "micro": 0})
            self.assertTrue(ver["package"].startswith("lemu "), ver)
        st = c.cmd("query-status")
        self.assertEqual(st, {"running": False, "singlestep": False,
                              "status": "prelaunch"})
        self.assertEqual(c.cmd("query-name"), {})
        self.assertEqual(c.cmd("query-uuid"),
                         {"UUID": "00000000-0000-0000-0000-000000000000"})
        kvm = c.cmd("query-kvm")
        self.assertEqual(set(kvm), {"enabled", "present"})
        self.assertIs(kvm["enabled"], False)
        self.assertIsInstance(kvm["present"], bool)
        if self.KIND == "lemu":
            self.assertEqual(kvm["present"], have_kvm())
        self.assertEqual(c.cmd("query-target"), {"arch": "x86_64"})
        machines = c.cmd("query-machines")
        pc = [m for m in machines if "pc" in (m["name"], m.get("alias"))]
        self.assertEqual(len(pc), 1, machines)
        for m in machines:
            self.assertIsInstance(m["name"], str)
            self.assertIsInstance(m.get("is-default", False), bool)
            self.assertIsInstance(m["cpu-max"], int)
            self.assertIsInstance(m["hotpluggable-cpus"], bool)
            self.assertIsInstance(m["numa-mem-supported"], bool)
            self.assertIsInstance(m["deprecated"], bool)
        self.assertIs(pc[0]["is-default"], True)
        chardevs = c.cmd("query-chardev")
        self.assertIsInstance(chardevs, list)
        for ch in chardevs:
            self.assertEqual(set(ch), {"label", "filename", "frontend-open"})
            self.assertIsInstance(ch["label"], str)
            self.assertIsInstance(ch["filename"], str)
            self.assertIsInstance(ch["frontend-open"], bool)
        qmp = [ch for ch in chardevs if vm.qmp_path in ch["filename"]]
        self.assertEqual(len(qmp), 1, chardevs)
        self.assertIs(qmp[0]["frontend-open"], True, qmp)   # the monitor
        if "query-events" in self.commands(c):
            events = {e["name"] for e in c.cmd("query-events")}
            self.assertTrue(set(EVENTS) <= events, events)
        self.assert_wire(c)

    def test_name_uuid_and_cpus(self):
        uuid = "12345678-9abc-def0-1234-56789abcdef0"
        vm, c = self.client(args=["-name", "qmp-test-vm", "-uuid", uuid,
                                  "-smp", "2"])
        self.assertEqual(c.cmd("query-name"), {"name": "qmp-test-vm"})
        self.assertEqual(c.cmd("query-uuid"), {"UUID": uuid})
        cpus = c.cmd("query-cpus-fast")
        self.assertEqual([x["cpu-index"] for x in cpus], [0, 1])
        tids = set()
        for cpu in cpus:
            self.assertRegex(cpu["qom-path"],
                             r"^/machine/unattached/device\[\d+\]$")
            self.assertIsInstance(cpu["thread-id"], int)
            self.assertEqual(cpu["target"], "x86_64")
            tids.add(cpu["thread-id"])
            if "props" in cpu:
                self.assertEqual(set(cpu["props"]),
                                 {"core-id", "thread-id", "socket-id"})
        # each vCPU is a thread of the VM process
        self.assertEqual(len(tids), 2)
        for tid in tids:
            self.assertTrue(os.path.exists("/proc/%d/task/%d"
                                           % (vm.proc.pid, tid)), tid)

    def test_stop_cont_and_events(self):
        vm, c = self.client()
        self.assertEqual(c.cmd("stop"), {})        # prelaunch: stays there
        self.assertEqual(self.status(c), "prelaunch")
        self.assertEqual(len(c.events), 0)
        self.assertEqual(c.cmd("cont"), {})
        ev = c.wait_event("RESUME")
        self.assertEqual(set(ev), {"timestamp", "event"})
        self.assert_timestamp(ev)
        self.assertEqual(c.cmd("query-status"),
                         {"running": True, "singlestep": False,
                          "status": "running"})
        self.assertEqual(c.cmd("stop"), {})
        ev = c.wait_event("STOP")
        self.assertEqual(set(ev), {"timestamp", "event"})
        self.assert_timestamp(ev)
        self.assertEqual(c.cmd("query-status"),
                         {"running": False, "singlestep": False,
                          "status": "paused"})
        c.cmd("cont")
        c.wait_event("RESUME")
        self.assertEqual(self.status(c), "running")
        self.assert_wire(c)

    def test_system_reset(self):
        vm, c = self.client()
        self.assertEqual(c.cmd("system_reset"), {})
        ev = c.wait_event("RESET")
        self.assertEqual(ev["data"], {"guest": False,
                                      "reason": "host-qmp-system-reset"})
        self.assert_timestamp(ev)
        c.cmd("cont")
        c.wait_event("RESUME")
        c.cmd("system_reset")
        self.assertEqual(c.wait_event("RESET")["data"]["reason"],
                         "host-qmp-system-reset")
        self.assertEqual(self.status(c), "running")

    def test_system_powerdown(self):
        vm, c = self.client()
        c.cmd("cont")
        c.wait_event("RESUME")
        self.assertEqual(c.cmd("system_powerdown"), {})
        ev = c.wait_event("POWERDOWN")
        self.assertEqual(set(ev), {"timestamp", "event"})
        self.assert_timestamp(ev)
        self.assertIsNone(vm.proc.poll())  # the guest ignores the button

    def acpi_poweroff_guest(self):
        """Real-mode code that writes SLP_EN with the \\_S5 sleep type to
        PM1a_CNT (port 0x604 on both; S5 is type 5 in lemu's DSDT, 0 in
        QEMU's), then halts."""
        value = 0x2000 | ((5 if self.KIND == "lemu" else 0) << 10)
        return (bytes([0xBA, 0x04, 0x06,                    # mov dx, 0x604
                       0xB8, value & 0xff, value >> 8,      # mov ax, value
                       0xEF])                               # out dx, ax
                + HALT_FOREVER)

    def test_guest_poweroff(self):
        vm, c = self.client(guest=self.acpi_poweroff_guest())
        c.cmd("cont")
        ev = c.wait_event("SHUTDOWN", timeout=60)
        self.assertEqual(ev["data"], {"guest": True,
                                      "reason": "guest-shutdown"})
        self.assert_timestamp(ev)
        self.assertEqual(vm.wait(), 0, vm.stderr())

    def test_guest_poweroff_with_no_shutdown(self):
        vm, c = self.client(guest=self.acpi_poweroff_guest(),
                            args=["-no-shutdown"])
        c.cmd("cont")
        self.assertEqual(c.wait_event("SHUTDOWN", timeout=60)["data"],
                         {"guest": True, "reason": "guest-shutdown"})
        deadline = time.monotonic() + 10
        while self.status(c) != "shutdown" and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(c.cmd("query-status"),
                         {"running": False, "singlestep": False,
                          "status": "shutdown"})
        self.assert_error(c.request("cont"), "GenericError",
                          "Resetting the Virtual Machine is required")
        self.assertEqual(self.status(c), "shutdown")
        c.cmd("system_reset")
        self.assertEqual(c.wait_event("RESET")["data"],
                         {"guest": False, "reason": "host-qmp-system-reset"})
        self.assertIn(self.status(c), ("prelaunch", "paused"))
        c.cmd("cont")                   # runs again, and powers off again
        c.wait_event("RESUME")
        self.assertEqual(c.wait_event("SHUTDOWN", timeout=60)["data"],
                         {"guest": True, "reason": "guest-shutdown"})
        self.assertIsNone(vm.proc.poll())

    def test_internal_error_stops_the_vm(self):
        # XGETBV with CR4.OSXSAVE clear raises #UD on a real CPU (IVT
        # entry 6 points at a halt); this host's KVM cannot emulate it and
        # reports an internal error, after which the VM waits in
        # internal-error for the monitor, as QEMU's does.
        if not have_kvm():
            self.skipTest("/dev/kvm is not available")
        code = (bytes([0x31, 0xC0, 0x8E, 0xD8,               # ds = 0
                       0xC7, 0x06, 0x18, 0x00, 0x40, 0x7C,   # [0x18] = 7c40
                       0xC7, 0x06, 0x1A, 0x00, 0x00, 0x00,   # [0x1a] = 0
                       0x0F, 0x01, 0xD0])                    # xgetbv
                + HALT_FOREVER).ljust(0x40, b"\xf4") + HALT_FOREVER
        vm, c = self.client(guest=code, accel="kvm")
        c.cmd("cont")
        c.wait_event("RESUME")
        try:
            c.wait_event("STOP", timeout=60)
        except Exception:
            self.assertEqual(self.status(c), "running")
            self.skipTest("this host's KVM runs XGETBV (no internal error)")
        self.assertIn("KVM internal error", vm.stderr())
        self.assertEqual(c.cmd("query-status"),
                         {"running": False, "singlestep": False,
                          "status": "internal-error"})
        self.assert_error(c.request("cont"), "GenericError",
                          "Resetting the Virtual Machine is required")
        regs = c.cmd("human-monitor-command", command_line="info registers")
        self.assertRegex(regs, r"EIP=00007c1[0-9a-f]")
        c.cmd("system_reset")
        c.wait_event("RESET")
        self.assertIn(self.status(c), ("prelaunch", "paused"))
        c.cmd("quit")
        self.assertEqual(vm.wait(), 0, vm.stderr())

    def test_inject_nmi(self):
        vm, c = self.client()
        self.assertEqual(c.cmd("inject-nmi"), {})
        self.assert_alive(c)

    def test_memsave_and_pmemsave(self):
        data = os.urandom(8192)
        vm = VM(self.KIND)
        self.addCleanup(vm.shutdown)
        path = os.path.join(vm.dir, "data.bin")
        with open(path, "wb") as f:
            f.write(data)
        vm.cmdline += ["-device", "loader,file=%s,addr=%#x" % (path, DATA_ADDR)]
        vm.launch()
        c = vm.connect()
        out = os.path.join(vm.dir, "out.bin")
        for name, extra in (("pmemsave", {}), ("memsave", {}),
                            ("memsave", {"cpu-index": 0})):
            with self.subTest(command=name, extra=extra):
                if os.path.exists(out):
                    os.unlink(out)
                self.assertEqual(c.cmd(name, val=DATA_ADDR + 16, size=4096,
                                       filename=out, **extra), {})
                with open(out, "rb") as f:
                    self.assertEqual(f.read(), data[16:16 + 4096])
        # Zero bytes: an empty file. Low memory the guest never touched.
        c.cmd("pmemsave", val=DATA_ADDR, size=0, filename=out)
        self.assertEqual(os.path.getsize(out), 0)
        c.cmd("pmemsave", val=0x300000, size=100, filename=out)
        self.assertEqual(os.path.getsize(out), 100)
        # The guest's code, through the vCPU's page tables (real mode:
        # none); QEMU's BIOS loads it only once the VM runs.
        c.cmd("cont")
        self.assertEqual(self.poll_memory(c, "memsave", 0x7c00, 4, out),
                         HALT_FOREVER)
        # Errors
        self.assert_error(c.request("pmemsave", {
            "val": 0, "size": 16, "filename": "/nonexistent/dir/x"}))
        self.assert_error(c.request("memsave", {
            "val": 0, "size": 16, "filename": out, "cpu-index": 7}))
        self.assert_error(c.request("pmemsave", {
            "val": 0, "size": 16, "filename": out, "cpu-index": 0}),
            "GenericError", "Parameter 'cpu-index' is unexpected")
        self.assert_alive(c)

    def poll_memory(self, c, command, addr, size, out, timeout=30):
        """The bytes at @addr once they stop being zero (the guest being
        loaded), read with @command ("memsave" or "pmemsave")."""
        deadline = time.monotonic() + timeout
        while True:
            c.cmd(command, val=addr, size=size, filename=out)
            with open(out, "rb") as f:
                data = f.read()
            if data.strip(b"\0") or time.monotonic() > deadline:
                return data
            time.sleep(0.1)

    def test_memsave_bad_ranges(self):
        self.lemu_only("QEMU 7.2 aborts on memsave with a negative size")
        vm, c = self.client()
        out = os.path.join(vm.dir, "out.bin")
        for name, val, size in (("memsave", 0, -1), ("pmemsave", 0, -1),
                                ("pmemsave", -1, 16),
                                ("pmemsave", 0xfffffffffffff000, 0x2000),
                                ("memsave", 0, 1 << 62),
                                ("pmemsave", 0, 1 << 62)):
            with self.subTest(command=name, val=val, size=size):
                reply = c.request(name, {"val": val, "size": size,
                                         "filename": out})
                if "error" in reply:
                    self.assert_error(reply)
                else:       # an unmapped range may read as 0xff, as QEMU's
                    self.assertLess(os.path.getsize(out), 1 << 30)
                self.assert_alive(c)

    def test_human_monitor_command(self):
        vm, c = self.client()
        text = c.cmd("human-monitor-command", command_line="info status")
        self.assertIsInstance(text, str)
        self.assertIn("VM status", text)
        self.assertIn("prelaunch", text)
        self.assertTrue(text.endswith("\r\n"), repr(text))
        self.assertEqual(c.request("human-monitor-command",
                                   {"command-line": "info status"}, id=9),
                         {"return": text, "id": 9})
        text = c.cmd("human-monitor-command", command_line="no-such-thing")
        self.assertIn("no-such-thing", text)
        self.assertEqual(c.cmd("human-monitor-command", command_line="cont"),
                         "")
        c.wait_event("RESUME")
        self.assertEqual(self.status(c), "running")
        self.poll_memory(c, "pmemsave", 0x7c00, 4,
                         os.path.join(vm.dir, "out.bin"))
        text = c.cmd("human-monitor-command", command_line="xp/4xb 0x7c00")
        self.assertEqual(text, "0000000000007c00: 0xfa 0xf4 0xeb 0xfd\r\n")

    def test_x_query_text_commands(self):
        vm, c = self.client()
        for name, needle in (("x-query-registers", "EIP="),
                             ("x-query-mtree", "address-space"),
                             ("x-query-qtree", "bus")):
            with self.subTest(command=name):
                if name not in self.commands(c):
                    self.assertNotEqual(self.KIND, "lemu", name)
                    continue
                r = c.cmd(name)
                self.assertEqual(list(r), ["human-readable-text"])
                self.assertIn(needle, r["human-readable-text"])

    def test_quit(self):
        vm, c = self.client()
        reply = c.request("quit", id="bye")
        self.assertEqual(reply, {"return": {}, "id": "bye"})
        ev = c.wait_event("SHUTDOWN")
        self.assertEqual(ev["data"], {"guest": False,
                                      "reason": "host-qmp-quit"})
        if self.KIND == "lemu":     # the reply first, then the event
            kinds = [b"event" in l for l in c.lines[-2:]]
            self.assertEqual(kinds, [False, True], c.lines)
        self.assertEqual(vm.wait(), 0, vm.stderr())
        with self.assertRaises(QMPClosed):
            c.read_message(5)
        self.assertFalse(os.path.exists(vm.qmp_path))
        self.assert_wire(c)

    def test_disconnect_mid_command_then_new_client(self):
        vm = self.vm()
        c = vm.connect()
        c.send_bytes(b'{"execute": "query-qmp-schema"}\n'
                     b'{"execute": "human-monitor-command", '
                     b'"arguments": {"command-line": "info status"}}\n'
                     b'{"execute": "query-sta')
        c.close()
        time.sleep(0.3)
        d = vm.connect()
        self.assertEqual(self.status(d), "prelaunch")
        d.cmd("cont")
        d.wait_event("RESUME")
        self.assertIsNone(vm.proc.poll())

    # -- transports -----------------------------------------------------

    def test_unix_socket(self):
        vm = VM(self.KIND)
        self.addCleanup(vm.shutdown)
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(vm.qmp_path)       # a stale socket file from a dead VM
        stale.close()
        vm.launch()
        c = vm.connect()
        self.assertEqual(self.status(c), "prelaunch")
        st = os.stat(vm.qmp_path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        if self.KIND == "lemu":
            self.assertEqual(st.st_mode & 0o777, 0o600)
        vm.proc.terminate()
        self.assertEqual(vm.wait(), 0)
        self.assertFalse(os.path.exists(vm.qmp_path))

    def test_tcp_socket(self):
        vm = self.vm(qmp="tcp")
        c = vm.connect()
        self.assertEqual(self.status(c), "prelaunch")
        c.cmd("cont")
        c.wait_event("RESUME")
        self.assert_wire(c)

    def test_stdio(self):
        vm = self.vm(qmp="stdio", stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE)
        c = QMPClient.from_process(vm.proc)
        self.assertIn("QMP", c.greeting)
        c.negotiate()
        self.assertEqual(self.status(c), "prelaunch")
        c.send_bytes(b'{"execute": "query-name", "id": "pi')
        time.sleep(0.2)
        c.send_bytes(b'pe"}\n')
        self.assertEqual(c.read_reply(), {"return": {}, "id": "pipe"})
        self.assertEqual(c.cmd("quit"), {})
        self.assertEqual(vm.wait(), 0, vm.stderr())
        self.assert_wire(c)

    def test_chardev_socket_wait_on_delays_the_guest(self):
        vm = VM(self.KIND, qmp=None, paused=False, serial="stdio",
                stdout=subprocess.PIPE,
                guest=out_char("!") + HALT_FOREVER)
        self.addCleanup(vm.shutdown)
        vm.cmdline += ["-chardev", "socket,id=qmp0,path=%s,server=on,wait=on"
                       % vm.qmp_path, "-mon", "chardev=qmp0,mode=control"]
        vm.launch()
        out = vm.proc.stdout.fileno()
        r, _, _ = select.select([out], [], [], 2)
        self.assertEqual(r, [], "the guest ran before a client connected")
        c = vm.connect(negotiate=False)
        self.assertIn("QMP", c.greeting)
        r, _, _ = select.select([out], [], [], 60)
        self.assertEqual(r, [out])
        self.assertEqual(os.read(out, 1), b"!")
        c.negotiate()
        self.assertEqual(self.status(c), "running")

    def test_chardev_tcp_with_mon(self):
        vm = VM(self.KIND, qmp=None)
        self.addCleanup(vm.shutdown)
        vm.port = free_tcp_port()
        vm.qmp = "tcp"
        vm.cmdline += ["-chardev", "socket,id=qmp0,host=127.0.0.1,port=%d,"
                       "server=on,wait=off" % vm.port,
                       "-mon", "chardev=qmp0,mode=control"]
        vm.launch()
        c = vm.connect()
        self.assertEqual(self.status(c), "prelaunch")
        labels = [ch["label"] for ch in c.cmd("query-chardev")]
        self.assertIn("qmp0", labels)

    def test_chardev_inherited_socket_fd(self):
        # As libvirt starts its VMs: it binds the monitor socket itself and
        # passes it with fd=N; the file goes at exit, as lemu's own do.
        vm = VM(self.KIND, qmp=None)
        self.addCleanup(vm.shutdown)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(srv.close)
        srv.bind(vm.qmp_path)
        vm.pass_fds = (srv.fileno(),)
        vm.cmdline += ["-chardev", "socket,id=charmonitor,fd=%d,server=on,"
                       "wait=off" % srv.fileno(),
                       "-mon", "chardev=charmonitor,id=monitor,mode=control"]
        vm.launch()
        srv.close()
        c = vm.connect()
        self.assertEqual(self.status(c), "prelaunch")
        chardevs = {ch["label"]: ch for ch in c.cmd("query-chardev")}
        self.assertEqual(chardevs["charmonitor"]["filename"],
                         "unix:%s,server=on" % vm.qmp_path)
        c.cmd("quit")
        self.assertEqual(vm.wait(), 0, vm.stderr())
        self.assertFalse(os.path.exists(vm.qmp_path))

    def client_mode_vm(self, chardev, pass_fds=()):
        """A VM whose monitor connects out (no server=on) with @chardev."""
        vm = VM(self.KIND, qmp=None)
        self.addCleanup(vm.shutdown)
        vm.pass_fds = pass_fds
        vm.cmdline += ["-chardev", "socket,id=mon," + chardev,
                       "-mon", "chardev=mon,mode=control"]
        return vm.launch()

    def accept_client(self, vm, srv):
        srv.settimeout(30)
        conn, _ = srv.accept()
        c = QMPClient.from_socket(conn)
        vm.clients.append(c)
        c.negotiate()
        return c

    def assert_client_session(self, vm, c, filename):
        self.assertEqual(self.status(c), "prelaunch")
        chardevs = {ch["label"]: ch for ch in c.cmd("query-chardev")}
        self.assertRegex(chardevs["mon"]["filename"], filename)
        self.assertTrue(chardevs["mon"]["frontend-open"])
        # Not waiting for the reply: QEMU may close the socket first.
        c.send({"execute": "quit"})
        self.assertEqual(vm.wait(), 0, vm.stderr())

    def test_client_mode_unix(self):
        # -qmp unix:PATH without server=on: lemu connects to a listener,
        # the way QEMU's Python test harness has QEMU connect to it.
        path = os.path.join(self.tmpdir(), "listener.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(srv.close)
        srv.bind(path)
        srv.listen(1)
        vm = VM(self.KIND, qmp="unix:" + path)
        self.addCleanup(vm.shutdown)
        vm.launch()
        c = self.accept_client(vm, srv)
        self.assertEqual(self.status(c), "prelaunch")
        c.send({"execute": "quit"})
        self.assertEqual(vm.wait(), 0, vm.stderr())
        self.assertTrue(os.path.exists(path))   # the listener's, not ours

    def test_client_mode_tcp(self):
        srv = socket.socket()
        self.addCleanup(srv.close)
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        vm = self.client_mode_vm("host=127.0.0.1,port=%d" % port)
        self.assert_client_session(
            vm, self.accept_client(vm, srv),
            r"^tcp:127\.0\.0\.1:\d+ <-> 127\.0\.0\.1:%d$" % port)

    def test_client_mode_socketpair_fd(self):
        # QEMU's Python harness passes one end of a socketpair as fd=N.
        mine, theirs = socket.socketpair()
        self.addCleanup(mine.close)
        vm = self.client_mode_vm("fd=%d" % theirs.fileno(),
                                 pass_fds=(theirs.fileno(),))
        theirs.close()
        c = QMPClient.from_socket(mine)
        c.negotiate()
        self.assert_client_session(vm, c, r"^unix:$")

    def test_client_mode_nobody_listening(self):
        self.lemu_only("QEMU's message differs")
        path = os.path.join(self.tmpdir(), "nobody.sock")
        vm = VM(self.KIND, qmp="unix:" + path)
        self.addCleanup(vm.shutdown)
        r = subprocess.run(vm.cmdline,
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.decode(),
                         "lemu: -qmp: chardev 'compat_monitor0': could not "
                         "connect to '%s': No such file or directory\n"
                         % path)

    def tmpdir(self):
        d = tempfile.TemporaryDirectory(prefix="qmp-test-")
        self.addCleanup(d.cleanup)
        return d.name

    def test_chardev_fd_that_is_not_a_socket(self):
        self.lemu_only("QEMU's message differs")
        vm = VM(self.KIND, qmp=None)
        self.addCleanup(vm.shutdown)
        r = subprocess.run(vm.cmdline
                           + ["-chardev", "socket,id=m,fd=0,server=on",
                              "-mon", "chardev=m,mode=control"],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.decode(), "lemu: -chardev: chardev 'm': "
                         "fd=0 is not an open unix or TCP stream socket\n")

    def test_hmp_on_stdio(self):
        vm = self.vm(qmp=None, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     args=["-monitor", "stdio"])
        vm.alive()
        vm.proc.stdin.write(b"info status\n")
        vm.proc.stdin.flush()
        out = read_until(vm.proc.stdout.fileno(), b"VM status: paused")
        self.assertIn(b"VM status: paused (prelaunch)", out)
        vm.proc.stdin.write(b"quit\n")
        vm.proc.stdin.flush()
        self.assertEqual(vm.wait(), 0, vm.stderr())

    # -- several clients (lemu only) -----------------------------------

    def test_two_clients_negotiate_separately(self):
        self.lemu_only("QEMU serves one client per QMP socket")
        vm = self.vm()
        a = vm.connect()
        b = vm.connect(negotiate=False)
        self.assert_error(b.request("query-status"), "CommandNotFound")
        a.cmd("cont")
        a.wait_event("RESUME")
        a.cmd("stop")
        a.wait_event("STOP")
        self.assertTrue(b.no_message(0.5), "events reached a client that "
                        "had not negotiated")
        b.negotiate()
        self.assertEqual(len(b.events), 0)
        a.cmd("cont")
        self.assertEqual(a.wait_event("RESUME")["event"], "RESUME")
        self.assertEqual(b.wait_event("RESUME")["event"], "RESUME")
        self.assert_error(a.request("qmp_capabilities"), "CommandNotFound")
        self.assertEqual(self.status(b), "running")
        self.assert_wire(a)
        self.assert_wire(b)

    def test_client_closing_mid_command_does_not_disturb_another(self):
        self.lemu_only("QEMU serves one client per QMP socket")
        vm = self.vm()
        a = vm.connect()
        b = vm.connect()
        for _ in range(5):
            x = vm.connect()
            x.send_bytes(b'{"execute": "query-qmp-schema"}\n' * 20
                         + b'{"execute": "x-query-mtree"}\n{"exec')
            x.close()
            vm.clients.remove(x)
        a.send_bytes(b'{"execute": "query-qmp-schema"}\n')
        a.close()
        self.assertEqual(self.status(b), "prelaunch")
        b.cmd("cont")
        b.wait_event("RESUME")
        self.assertEqual(self.status(b), "running")
        self.assertIsNone(vm.proc.poll())

    def test_client_that_never_reads_does_not_block_others(self):
        self.lemu_only("QEMU serves one client per QMP socket")
        vm = self.vm()
        slow = vm.connect()
        fast = vm.connect()
        # The slow client floods requests with big replies and never reads.
        slow.sock.setblocking(False)
        req = b'{"execute": "query-qmp-schema"}\n' * 64
        sent = 0
        deadline = time.monotonic() + 10
        while sent < 16 * 1024 * 1024 and time.monotonic() < deadline:
            try:
                sent += slow.sock.send(req)
            except BlockingIOError:
                break
        # Events keep coming to both while the other client works.
        start = time.monotonic()
        for i in range(300):
            fast.cmd("cont")
            fast.wait_event("RESUME")
            fast.cmd("stop")
            fast.wait_event("STOP")
        self.assertLess(time.monotonic() - start, 120)
        self.assertEqual(self.status(fast), "paused")
        self.assertIsNone(vm.proc.poll())

    def test_client_flooded_with_events_is_disconnected(self):
        self.lemu_only("QEMU serves one client per QMP socket and has no "
                       "output limit")
        vm = self.vm()
        slow = vm.connect()         # negotiated, then never reads
        fast = vm.connect()
        fast.cmd("cont")
        fast.wait_event("RESUME")
        rss_before = proc_status_kib(vm.proc.pid, "VmRSS")
        # 24 MiB of STOP/RESUME events: 3 times the 8 MiB output limit.
        batch = b'{"execute": "stop"}\n{"execute": "cont"}\n' * 250
        event_bytes = 0
        deadline = time.monotonic() + 180
        while event_bytes < 24 << 20:
            self.assertLess(time.monotonic(), deadline)
            fast.send_bytes(batch)
            for _ in range(1000):       # 500 replies and 500 events
                fast.read_message()
            event_bytes += sum(len(l) for l in fast.lines if b'"event"' in l)
            fast.lines.clear()
        grown = proc_status_kib(vm.proc.pid, "VmHWM") - rss_before
        self.assertLess(grown, 16 << 10, "lemu kept the unread events")
        # The slow client finds complete lines, then the end of the stream.
        received = 0
        with self.assertRaises(QMPClosed):
            while True:
                received += len(slow.read_line(10))
        self.assertLessEqual(received, 9 << 20)
        self.assertEqual(slow.buf, b"")
        self.assertEqual(self.status(fast), "running")
        self.assertIn("disconnected", vm.stderr())

    # -- qmp-shell ------------------------------------------------------

    def run_shell(self, vm, commands, *opts, address=None):
        r = subprocess.run([sys.executable, QMP_SHELL, *opts,
                            address or vm.qmp_path],
                           input=commands.encode(), capture_output=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.decode()

    def test_qmp_shell(self):
        data = os.urandom(16)
        vm = VM(self.KIND)
        self.addCleanup(vm.shutdown)
        path = os.path.join(vm.dir, "data.bin")
        with open(path, "wb") as f:
            f.write(data)
        vm.cmdline += ["-device", "loader,file=%s,addr=%#x" % (path, DATA_ADDR)]
        vm.launch()
        out = os.path.join(vm.dir, "out.bin")
        text = self.run_shell(vm, "query-status\n"
                              "query-name\n"
                              '{"execute": "query-target", "id": 5}\n'
                              "pmemsave val=%d size=16 filename=%s\n"
                              "no-such-command\n" % (DATA_ADDR, out))
        replies = [json.loads(l) for l in text.splitlines() if l.strip()]
        self.assertEqual(replies[0]["return"]["status"], "prelaunch")
        self.assertEqual(replies[1], {"return": {}})
        self.assertEqual(replies[2], {"return": {"arch": "x86_64"}, "id": 5})
        self.assertEqual(replies[3], {"return": {}})
        self.assertEqual(replies[4]["error"]["class"], "CommandNotFound")
        with open(out, "rb") as f:
            self.assertEqual(f.read(), data)
        # -p: pretty; events are printed too
        text = self.run_shell(vm, "cont\nquery-status\n", "-p")
        self.assertIn('"status": "running"', text)
        self.assertIn('"event": "RESUME"', text)
        self.assertIn("\n    ", text)
        # -H: human monitor commands
        text = self.run_shell(vm, "info status\n", "-H")
        self.assertIn("VM status: running", text)
        # key=value with JSON values, dotted keys, and an error
        text = self.run_shell(vm, "memsave val=%d size=16 filename=%s "
                              "cpu-index=0\nquery-status x=[1,2]\n"
                              % (DATA_ADDR, out))
        replies = [json.loads(l) for l in text.splitlines() if l.strip()]
        self.assertEqual(replies[0], {"return": {}})
        self.assertEqual(replies[1]["error"]["desc"],
                         "Parameter 'x' is unexpected")
        # HOST:PORT
        tvm = self.vm(qmp="tcp")
        text = self.run_shell(tvm, "query-target\n",
                              address="127.0.0.1:%d" % tvm.port)
        self.assertEqual(json.loads(text), {"return": {"arch": "x86_64"}})


def proc_status_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def read_until(fd, want, timeout=30):
    data = b""
    end = time.monotonic() + timeout
    while want not in data and time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    return data


class LemuQmp(QmpTestBase, unittest.TestCase):
    KIND = "lemu"


class QemuQmp(QmpTestBase, unittest.TestCase):
    KIND = "qemu"


if __name__ == "__main__":
    lemutest.main()
