#!/bin/sh
# Starts PostgreSQL in the compose file's db service with the settings the search was
# measured with (docs/search.md), like the embedded server (faceweb/embedded.py):
# shared_buffers a quarter of the memory the container may use (128MB..8GB),
# effective_cache_size half of it, maintenance_work_mem 1GB for index builds, and huge
# pages whenever the host has reserved them (sysctl vm.nr_hugepages, docs/search.md).
# PG_SHARED_BUFFERS / PG_EFFECTIVE_CACHE_SIZE (e.g. 4GB) override the computed sizes.
set -eu
mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
if [ -r /sys/fs/cgroup/memory.max ]; then
    limit=$(cat /sys/fs/cgroup/memory.max)
    if [ "$limit" != "max" ] && [ $((limit / 1024)) -lt "$mem_kb" ]; then
        mem_kb=$((limit / 1024))
    fi
fi
mem_mb=$((mem_kb / 1024))
shared_mb=$((mem_mb / 4))
[ "$shared_mb" -lt 128 ] && shared_mb=128
[ "$shared_mb" -gt 8192 ] && shared_mb=8192
cache_mb=$((mem_mb / 2))
exec docker-entrypoint.sh postgres \
    -c "shared_buffers=${PG_SHARED_BUFFERS:-${shared_mb}MB}" \
    -c "effective_cache_size=${PG_EFFECTIVE_CACHE_SIZE:-${cache_mb}MB}" \
    -c maintenance_work_mem=1GB \
    -c huge_pages=try \
    "$@"
