#!/usr/bin/env python3
"""The command line as a user meets it: help, version, and a clear error
(naming the option and what was expected, exit status 1) for every kind of
bad input. None of these start a VM."""
import os
import socket
import subprocess
import tempfile
import unittest

import lemutest

LEMU = os.environ.get("LEMU", "build/lemu")


def lemu(*args, timeout=30):
    return subprocess.run([LEMU, *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


class Info(unittest.TestCase):
    def test_version(self):
        r = lemu("-version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^lemu version \d+\.\d+\.\d+")

    def test_help_lists_options(self):
        r = lemu("-h")
        self.assertEqual(r.returncode, 0)
        for opt in ("-m ", "-smp", "-kernel", "-serial", "-no-reboot",
                    "-daemonize", "-device", "-qmp ", "-qmp-pretty",
                    "-monitor", "-mon ", "-uuid", "tcp:"):
            self.assertIn(opt, r.stdout)

    def test_device_help_lists_user_devices(self):
        r = lemu("-device", "help")
        self.assertEqual(r.returncode, 0)
        self.assertIn('"isa-debug-exit"', r.stdout)
        self.assertIn('"loader"', r.stdout)
        self.assertNotIn('"mc146818rtc"', r.stdout)

    def test_device_props_help(self):
        r = lemu("-device", "isa-debug-exit,help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("iobase", r.stdout)
        self.assertIn("iosize", r.stdout)

    def test_machine_help(self):
        r = lemu("-machine", "help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("pc ", r.stdout)


class BadInput(unittest.TestCase):
    def assert_error(self, args, *fragments):
        r = lemu(*args)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertTrue(r.stderr.startswith("lemu: "), r.stderr)
        self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
        for f in fragments:
            self.assertIn(f, r.stderr)

    def test_unknown_option(self):
        self.assert_error(["-foo"], "lemu: -foo: option not supported")
        self.assert_error(["--vga", "std"], "-vga: option not supported")

    def test_missing_argument(self):
        self.assert_error(["-m"], "-m", "requires an argument")

    def test_bad_memory_size(self):
        self.assert_error(["-m", "12Q"], "-m", "12Q")
        self.assert_error(["-m", "1K"], "-m", "out of range")
        self.assert_error(["-m", "size=64M,slots=2,maxmem=1G"], "hotplug")
        self.assert_error(["-m", "99999999999999999999"], "-m")

    def test_bad_smp(self):
        self.assert_error(["-smp", "0"], "-smp", "expected 1 to")
        self.assert_error(["-smp", "1000"], "-smp")
        self.assert_error(["-smp", "two"], "-smp", "two")
        self.assert_error(["-smp", "2,bogus=1"], "-smp", "bogus")

    def test_bad_machine_accel_cpu(self):
        self.assert_error(["-machine", "q35"], "q35", "pc")
        self.assert_error(["-accel", "xen"], "-accel", "xen")
        self.assert_error(["-cpu", "pentium"], "-cpu", "pentium")
        self.assert_error(["-display", "gtk"], "-display", "not supported")

    def test_bad_device(self):
        self.assert_error(["-device", "nosuch"], "nosuch",
                          "not a valid device model")
        self.assert_error(["-device", "mc146818rtc"], "mc146818rtc")
        self.assert_error(["-device", "isa-debug-exit,iobase=zz",
                           "-kernel", "/dev/null"], "iobase")

    def test_bad_option_string(self):
        self.assert_error(["-device", "loader,=x"], "-device")
        self.assert_error(["-name", "x,debug-threads=maybe"], "debug-threads")

    def test_initrd_without_kernel(self):
        self.assert_error(["-initrd", "x"], "-initrd", "-kernel")
        self.assert_error(["-append", "x"], "-append", "-kernel")

    def test_nothing_to_boot(self):
        r = lemu("-display", "none", "-serial", "none")
        self.assertEqual(r.returncode, 1)
        self.assertIn("nothing to boot", r.stderr)

    def test_kernel_missing_or_garbage(self):
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            self.skipTest("/dev/kvm not available")
        self.assert_error(["-serial", "none", "-kernel",
                           "/nonexistent/vmlinuz"], "/nonexistent/vmlinuz")
        with tempfile.NamedTemporaryFile() as f:
            f.write(os.urandom(64 * 1024))
            f.flush()
            self.assert_error(["-serial", "none", "-kernel", f.name], f.name,
                              "bzImage", "multiboot")

    def test_bad_serial(self):
        self.assert_error(["-serial", "bogus:x"], "-serial", "bogus")
        self.assert_error(["-serial", "file:/nonexistent/dir/out",
                           "-kernel", "/dev/null"], "/nonexistent/dir/out")

    def test_bad_chardev(self):
        self.assert_error(["-chardev", "file,path=/tmp/x"], "-chardev", "id")
        self.assert_error(["-chardev", "tty,id=c0"], "-chardev", "tty")

    def test_daemonize_with_stdio(self):
        self.assert_error(["-daemonize", "-nographic"], "-nographic",
                          "-daemonize")
        self.assert_error(["-daemonize", "-serial", "none", "-qmp", "stdio"],
                          "-qmp stdio", "-daemonize")

    def test_bad_mon(self):
        self.assert_error(["-mon", "m0,mode=bad"], "-mon", "'bad'",
                          "control", "readline")
        self.assert_error(["-mon", "mode=control"], "-mon", "chardev")
        self.assert_error(["-mon", "m0,pretty=on"], "-mon", "pretty",
                          "mode=control")
        self.assert_error(["-mon", "m0,pretty=maybe"], "-mon", "maybe")
        self.assert_error(["-mon", "m0,bogus=1"], "-mon", "bogus")
        self.assert_error(["-monitor", "chardev:"], "-monitor", "chardev:ID")

    def test_stdio_twice(self):
        msg = "cannot use stdio by multiple character devices"
        self.assert_error(["-serial", "stdio", "-qmp", "stdio"], msg)
        self.assert_error(["-monitor", "stdio", "-qmp", "stdio"], msg)
        self.assert_error(["-serial", "mon:stdio", "-monitor", "stdio"], msg)
        self.assert_error(["-chardev", "stdio,id=c0", "-qmp-pretty",
                           "stdio"], msg)

    def test_bad_uuid(self):
        for bad in ("1234", "", "12345678-9abc-def0-1234-56789abcdefg",
                    "123456789-abc-def0-1234-56789abcdef0",
                    "12345678-9abc-def0-1234-56789abcdef01",
                    "12345678+9abc-def0-1234-56789abcdef0"):
            self.assert_error(["-uuid", bad], "-uuid", "8-4-4-4-12")

    def test_bad_monitor_spec(self):
        self.assert_error(["-qmp", "bogus"], "-qmp", "bogus", "tcp:HOST:PORT")
        self.assert_error(["-monitor", "tcp:localhost"], "-monitor",
                          "tcp:HOST:PORT")
        self.assert_error(["-qmp", "tcp:127.0.0.1:99999,server=on,wait=off"],
                          "-qmp", "port '99999'")
        self.assert_error(["-serial", "tcp:127.0.0.1:4444,server=on,x=1"],
                          "-serial", "'x'")
        self.assert_error(["-chardev", "socket,id=s,port=4444,server=on"],
                          "-chardev", "host=HOST")

    def test_tcp_port_in_use(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            where = "'127.0.0.1:%d'" % port
            self.assert_error(["-qmp", "tcp:127.0.0.1:%d,server=on,wait=off"
                               % port], "-qmp", where,
                              "Address already in use")
            # QEMU's old spelling of the flags
            self.assert_error(["-chardev", "socket,id=m0,host=127.0.0.1,"
                               "port=%d,server,nowait" % port,
                               "-mon", "m0,mode=control"],
                              "-chardev", where, "Address already in use")
            self.assert_error(["-serial", "tcp:127.0.0.1:%d,server,nowait"
                               % port], "-serial", where)


if __name__ == "__main__":
    lemutest.main()
