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
# The workload reads p2m_mib and p2m_rounds from /proc/cmdline.
if /workload; then
    echo "P2M: done" > /dev/kmsg
else
    echo "P2M: done FAIL" > /dev/kmsg
fi
# With acpi=off this halts with interrupts off: the hypervisor's cue.
poweroff -f
