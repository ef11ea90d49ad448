#!/bin/sh
# Writes vmlinux.h (every kernel type, for CO-RE) from the running kernel's BTF.
exec bpftool btf dump file "${1:-/sys/kernel/btf/vmlinux}" format c
