#!/usr/bin/env python3
"""Disks on lemu's command line, as users give them: -drive and -blockdev
with -device virtio-blk-pci, snapshot=on, format probing, bad options, and
QMP query-block. The guest is tests/guests/virtio-blk.elf, a small
virtio-blk driver that writes four 4 KiB patterns at sectors 0, 64, 128
and 192, flushes, reads them back and exits through isa-debug-exit (33 =
its checks passed); the tests then look at the image from outside.

Environment: LEMU, LEMU_IMG, GUESTS (meson sets them)."""
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import lemutest

LEMU = os.environ.get("LEMU", "build/lemu")
LEMU_IMG = os.environ.get("LEMU_IMG", "build/block/img/lemu-img")
GUESTS = os.environ.get("GUESTS", "build/tests/guests")
GUEST = os.path.join(GUESTS, "virtio-blk.elf")
QEMU_IMG = shutil.which("qemu-img")
DISK_BYTES = 1 << 20
PASS = 33


def pattern(n):
    """The bytes the guest writes with request n (see virtio-blk.c)."""
    return bytes((n * 31 + i * 7 + (i >> 9)) & 0xff for i in range(4096))


class DriveTest(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(GUEST):
            self.skipTest("guest programs not built (-Dguests=false)")
        self.dir = tempfile.mkdtemp(prefix="lemu-drive-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def img(self, *args):
        r = subprocess.run([LEMU_IMG] + list(args), capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def run_guest(self, drive_args, env=None, expect=PASS):
        cmd = [LEMU, "-accel", "interp", "-display", "none", "-no-reboot",
               "-serial", "stdio", "-device",
               "isa-debug-exit,iobase=0xf4,iosize=0x04", "-kernel",
               GUEST] + drive_args
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                           env=env)
        self.assertEqual(r.returncode, expect,
                         "stdout:\n%s\nstderr:\n%s" % (r.stdout, r.stderr))
        if expect == PASS:
            self.assertIn("data matches", r.stdout)
        return r

    def raw_content(self, image, fmt):
        out = self.path("content.raw")
        self.img("convert", "-f", fmt, "-O", "raw", image, out)
        with open(out, "rb") as f:
            data = f.read()
        os.unlink(out)
        return data

    def assert_guest_data(self, image, fmt):
        data = self.raw_content(image, fmt)
        self.assertEqual(len(data), DISK_BYTES)
        for n in range(4):
            off = n * 64 * 512
            self.assertEqual(data[off:off + 4096], pattern(n),
                             "request %d's data at sector %d" % (n, n * 64))
        # Everything else is still zero.
        rest = bytearray(data)
        for n in range(4):
            rest[n * 64 * 512:n * 64 * 512 + 4096] = bytes(4096)
        self.assertEqual(bytes(rest), bytes(DISK_BYTES))

    def assert_qemu_check_clean(self, image):
        if not QEMU_IMG:
            return
        r = subprocess.run([QEMU_IMG, "check", image], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def qcow2(self, name="disk.qcow2", *opts):
        image = self.path(name)
        self.img("create", "-q", "-f", "qcow2", *opts, image,
                 str(DISK_BYTES))
        return image

    def sha256(self, image):
        with open(image, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()

    # ---- the forms of the command line ----

    def test_drive_qcow2_if_virtio(self):
        image = self.qcow2()
        self.run_guest(["-drive", "file=%s,format=qcow2,if=virtio" % image])
        self.assert_guest_data(image, "qcow2")
        self.assert_qemu_check_clean(image)

    def test_drive_none_with_device(self):
        image = self.qcow2("c.qcow2", "-o", "cluster_size=4096")
        self.run_guest(["-drive", "file=%s,format=qcow2,if=none,id=d0,"
                        "cache=writethrough,werror=report" % image,
                        "-device", "virtio-blk-pci,drive=d0,serial=LEMU0"])
        self.assert_guest_data(image, "qcow2")
        self.assert_qemu_check_clean(image)

    def test_blockdev_json_and_dotted(self):
        for form in ("json", "dotted"):
            image = self.qcow2("%s.qcow2" % form)
            if form == "json":
                spec = json.dumps({"driver": "qcow2", "node-name": "d0",
                                   "file": {"driver": "file",
                                            "filename": image}})
            else:
                spec = ("driver=qcow2,node-name=d0,file.driver=file,"
                        "file.filename=%s" % image)
            self.run_guest(["-blockdev", spec, "-device",
                            "virtio-blk-pci,drive=d0"])
            self.assert_guest_data(image, "qcow2")
            self.assert_qemu_check_clean(image)

    def test_backing_chain(self):
        base = self.qcow2("base.qcow2")
        top = self.path("top.qcow2")
        self.img("create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2",
                 top)
        before = self.sha256(base)
        self.run_guest(["-drive", "file=%s,format=qcow2" % top])
        self.assertEqual(self.sha256(base), before, "the backing file changed")
        self.assert_guest_data(top, "qcow2")

    def test_snapshot_on_leaves_image_alone(self):
        image = self.qcow2()
        tmp = self.path("tmpdir")
        os.mkdir(tmp)
        env = dict(os.environ, TMPDIR=tmp)
        before = self.sha256(image)
        self.run_guest(["-drive", "file=%s,format=qcow2,snapshot=on" % image],
                       env=env)
        self.assertEqual(self.sha256(image), before)
        self.assertEqual(os.listdir(tmp), [], "the overlay was left behind")
        # -snapshot does the same for every drive.
        self.run_guest(["-snapshot", "-drive", "file=%s,format=qcow2" % image],
                       env=env)
        self.assertEqual(self.sha256(image), before)
        self.assertEqual(os.listdir(tmp), [])

    def test_probing_warns_for_raw(self):
        image = self.path("disk.img")
        with open(image, "wb") as f:
            f.truncate(DISK_BYTES)
        r = self.run_guest(["-drive", "file=%s,if=virtio" % image])
        self.assertIn("Image format was not specified for '%s' and probing "
                      "guessed raw" % image, r.stderr)
        self.assert_guest_data(image, "raw")
        # A probed qcow2 image needs no warning.
        image = self.qcow2()
        r = self.run_guest(["-drive", "file=%s" % image])
        self.assertNotIn("probing guessed", r.stderr)
        self.assert_guest_data(image, "qcow2")

    # ---- bad input: a clear error, nothing written ----

    def lemu_fails(self, args, *words):
        r = subprocess.run([LEMU, "-accel", "interp", "-display", "none",
                            "-S", "-kernel", GUEST] + args,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertTrue(r.stderr.startswith("lemu: "), r.stderr)
        for w in words:
            self.assertIn(w, r.stderr)
        self.assertNotIn("Sanitizer", r.stderr)
        return r.stderr

    def test_bad_options(self):
        image = self.qcow2()
        before = self.sha256(image)
        missing = self.path("missing.qcow2")
        self.lemu_fails(["-drive", "file=%s,format=qcow2" % missing],
                        missing, "No such file or directory")
        self.lemu_fails(["-drive", "file=%s,format=vmdk" % image], "vmdk")
        self.lemu_fails(["-drive", "file=%s,format=qcow2,cache=sometimes" %
                         image], "cache")
        self.lemu_fails(["-drive", "file=%s,format=qcow2,bogus=1" % image],
                        "bogus")
        self.lemu_fails(["-drive", "file=%s,format=qcow2,if=none,id=d0" %
                         image, "-device", "virtio-blk-pci,drive=d1"], "d1")
        self.lemu_fails(["-drive", "file=%s,format=qcow2,if=none,id=d0" %
                         image, "-device", "virtio-blk-pci,drive=d0",
                         "-device", "virtio-blk-pci,drive=d0"], "d0")
        self.lemu_fails(["-blockdev", "{'driver': 'qcow2'"], "blockdev")
        # A raw image opened as qcow2 is refused, not reinterpreted.
        raw = self.path("raw.img")
        with open(raw, "wb") as f:
            f.truncate(DISK_BYTES)
        self.lemu_fails(["-drive", "file=%s,format=qcow2" % raw], raw)
        self.assertEqual(self.sha256(image), before)

    # ---- QMP ----

    def test_query_block(self):
        base = self.qcow2("base.qcow2")
        top = self.path("top.qcow2")
        self.img("create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2",
                 top)
        sock = self.path("qmp.sock")
        p = subprocess.Popen([LEMU, "-accel", "interp", "-display", "none",
                              "-S", "-kernel", GUEST, "-qmp",
                              "unix:%s,server=on,wait=off" % sock,
                              "-drive", "file=%s,format=qcow2,if=none,id=d0"
                              % top, "-device", "virtio-blk-pci,drive=d0"],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        try:
            for _ in range(200):
                if os.path.exists(sock):
                    break
                time.sleep(0.05)
            s = socket.socket(socket.AF_UNIX)
            s.connect(sock)
            f = s.makefile("rw")

            def cmd(name):
                f.write(json.dumps({"execute": name}) + "\n")
                f.flush()
                while True:
                    msg = json.loads(f.readline())
                    if "return" in msg or "error" in msg:
                        return msg

            json.loads(f.readline())        # greeting
            cmd("qmp_capabilities")
            blocks = cmd("query-block")["return"]
            self.assertEqual(len(blocks), 1)
            b = blocks[0]
            self.assertEqual(b["device"], "d0")
            self.assertEqual(b["io-status"], "ok")
            ins = b["inserted"]
            self.assertEqual(ins["file"], top)
            self.assertEqual(ins["drv"], "qcow2")
            self.assertFalse(ins["ro"])
            self.assertEqual(ins["backing_file"], base)
            self.assertEqual(ins["backing_file_depth"], 1)
            image = ins["image"]
            self.assertEqual(image["virtual-size"], DISK_BYTES)
            self.assertEqual(image["format"], "qcow2")
            self.assertEqual(image["backing-image"]["filename"], base)
            stats = cmd("query-blockstats")["return"]
            self.assertEqual(stats[0]["device"], "d0")
            self.assertEqual(stats[0]["stats"]["wr_operations"], 0)
            cmd("quit")
            f.close()
            s.close()
            self.assertEqual(p.wait(timeout=30), 0)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stderr.close()


if __name__ == "__main__":
    lemutest.main()
