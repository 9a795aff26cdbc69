#!/bin/sh
# /init of the Linux guest's initramfs (tests/hv/linux.py puts it there).
# The marker lines (xen/arch/x86/hvm/linux-abi.h) go to /dev/kmsg: the
# guest's UART has no interrupt, and only the kernel's polled console
# reaches it.  Each echo is one write(), so one log record.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "P2M: init" > /dev/kmsg
kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
echo "P2M: meminfo MemTotal $kb kB" > /dev/kmsg
# Debian's virtio modules (tests/hv/linux.py VIRTIO_MODULES, load order):
# virtio_mmio binds to the ACPI device LNRO0005, virtio_balloon to the
# virtio device behind it.  One line per virtio device, e.g.
#   P2M: virtio virtio0 device 0x0005 driver virtio_balloon
for m in virtio_ring virtio virtio_mmio virtio_balloon; do
    if [ -f /lib/modules/$m.ko ] && ! insmod /lib/modules/$m.ko; then
        echo "P2M: insmod $m FAIL" > /dev/kmsg
    fi
done
for d in /sys/bus/virtio/devices/virtio*; do
    [ -e "$d" ] || continue
    drv=$(readlink "$d/driver")
    echo "P2M: virtio ${d##*/} device $(cat "$d/device") driver ${drv##*/}" \
        > /dev/kmsg
done
# The workload reads p2m_mib and p2m_rounds from /proc/cmdline.
if /workload; then
    echo "P2M: done" > /dev/kmsg
else
    echo "P2M: done FAIL" > /dev/kmsg
fi
# With acpi=off this halts with interrupts off: the hypervisor's cue.
poweroff -f
