#!/bin/bash
# Rebuild and rerun the 32-bit x86 Linux VM anchor captures.
#   ./run.sh                 # everything (build + all scenarios + summary)
#   ./run.sh build           # only (re)build kernel/busybox/memtouch/initramfs
#   ./run.sh initramfs       # only recompile src/*.c and repack the initramfs (after editing src/)
#   ./run.sh base-1g a-1g-4k # only the listed scenarios (build is done if missing)
# Env: BUILD=${TMPDIR:-/tmp}/linux32-build (large binaries, NOT in this folder)
#      OUT=<repo>/tests/kernel/data/linux32  (captured serial logs, kernel-info.txt and summary-generated.md;
#          the tests read them from there; point OUT elsewhere for a scratch run)
#      ACCEL=tcg|kvm (default tcg: portable, deterministic; kvm is faster)
#      KPKG=linux-image-6.1.0-50-686  (the default: the kernel every capture in tests/kernel/data/linux32
#          was taken with; a build of another kernel in $BUILD is rebuilt before a scenario runs)
#      TIMEOUT=900 (seconds per boot)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
B=${BUILD:-${TMPDIR:-/tmp}/linux32-build}
OUT=${OUT:-$HERE/../../tests/kernel/data/linux32}
ACCEL=${ACCEL:-tcg}
TIMEOUT=${TIMEOUT:-900}
# Pinned: a newer Debian kernel (6.1.0-57) needs its virtio modules in another order than
# src/init.sh loads them and boots without its disks; its figures would not be the captures' anyway.
KPKG=${KPKG:-linux-image-6.1.0-50-686}
KPKG=${KPKG%:i386}
mkdir -p "$B" "$OUT"

build() {
  export DEBIAN_FRONTEND=noninteractive
  # i386 packages (kernel, busybox, headers) need the foreign architecture and a fresh index
  dpkg --print-foreign-architectures | grep -qx i386 || dpkg --add-architecture i386
  apt-cache policy linux-image-686:i386 2>/dev/null | grep -q Candidate || apt-get update -qq
  command -v qemu-system-i386 >/dev/null && command -v cpio >/dev/null && \
    [ -e /usr/lib/gcc/x86_64-linux-gnu/*/32/libgcc.a ] && [ -e /usr/lib32/libc.a ] || \
    apt-get install -y qemu-system-x86 gcc-multilib cpio
  # --- kernel: resolve the real package behind the linux-image-686:i386 metapackage
  echo "kernel package: $KPKG:i386"
  mkdir -p "$B/debs"
  KVER=${KPKG#linux-image-}
  ( cd "$B/debs" && rm -f ./*.deb && apt-get download "$KPKG:i386" busybox-static:i386 )
  KV=$(dpkg-deb -f "$B"/debs/${KPKG}_*_i386.deb Version)
  # headers + the same-version kbuild tools (amd64 host binaries) for the vmlayout module
  ( cd "$B/debs" && apt-get download "linux-headers-$KVER:i386" "linux-headers-${KVER%-686}-common=$KV" \
        "linux-kbuild-${KV%.*}=$KV" )
  rm -rf "$B/kroot" "$B/bbroot"
  dpkg-deb -x "$B"/debs/${KPKG}_*_i386.deb "$B/kroot"
  dpkg-deb -x "$B"/debs/busybox-static_*_i386.deb "$B/bbroot"
  cp "$B/kroot/boot/vmlinuz-$KVER" "$B/vmlinuz"
  cp "$B/kroot/boot/config-$KVER" "$B/config"
  { echo "# $(date -u +%FT%TZ)"
    dpkg-deb -f "$B"/debs/${KPKG}_*_i386.deb Package Version Architecture
    dpkg-deb -f "$B"/debs/busybox-static_*_i386.deb Package Version Architecture
    echo "qemu: $(qemu-system-i386 --version | head -1)"
    echo "gcc: $(gcc --version | head -1)"
    echo "--- selected kernel config lines"
    grep -E '^(# )?CONFIG_(HIGHMEM|HIGHMEM4G|HIGHMEM64G|X86_PAE|NOHIGHMEM|PHYSICAL_START|PHYSICAL_ALIGN|PAGE_OFFSET|VMSPLIT_[A-Z0-9_]*|RELOCATABLE|RANDOMIZE_BASE|FLATMEM|SPARSEMEM|ZONE_DMA|ZONE_DMA32|HIGHPTE|TRANSPARENT_HUGEPAGE[A-Z_]*|SWAP|ZSWAP|ZSWAP_DEFAULT_ON|LRU_GEN|LRU_GEN_ENABLED|SLUB|SLAB|MEMCG|COMPACTION|MIGRATION|NUMA|X86_GENERIC|M686|MPENTIUMII|SMP|NR_CPUS|DEFAULT_MMAP_MIN_ADDR|ARCH_FORCE_MAX_ORDER|FORCE_MAX_ZONEORDER|KSM|HUGETLBFS|CMA)[ =]' "$B/config" || true
  } > "$OUT/kernel-info.txt"
  grep -q '^CONFIG_HIGHMEM4G=y' "$B/config" && ! grep -q '^CONFIG_X86_PAE=y' "$B/config" \
    || { echo "kernel is not non-PAE HIGHMEM4G" >&2; exit 1; }
  # --- vmlayout.ko (prints the old "virtual kernel memory layout")
  rm -rf "$B/hroot" "$B/vmlayout"
  for d in "$B"/debs/linux-headers-*.deb "$B"/debs/linux-kbuild-*.deb; do dpkg-deb -x "$d" "$B/hroot"; done
  sed -i "s#^include /usr/src/#include $B/hroot/usr/src/#" "$B/hroot/usr/src/linux-headers-$KVER/Makefile"
  cp -r "$HERE/src/vmlayout" "$B/vmlayout"
  make -s -C "$B/hroot/usr/src/linux-headers-$KVER" M="$B/vmlayout" modules
  mkinitramfs
}

# test programs + initramfs only (needs $B/bbroot, $B/kroot, $B/vmlayout from a full build)
mkinitramfs() {
  KVER=$(ls "$B/kroot/lib/modules" | head -1)
  # --- test program
  gcc -m32 -static -O2 -Wall -o "$B/memtouch" "$HERE/src/memtouch.c"
  gcc -m32 -static -O2 -Wall -o "$B/ocprobe" "$HERE/src/ocprobe.c"
  gcc -m32 -static -O2 -Wall -o "$B/vmprobe" "$HERE/src/vmprobe.c"
  # --- initramfs
  R="$B/initramfs"; rm -rf "$R"; mkdir -p "$R"/{bin,sbin,proc,sys,dev,tmp,lib/modules}
  cp "$B/bbroot/bin/busybox" "$R/bin/busybox"
  for a in $("$R/bin/busybox" --list); do [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"; done
  cp "$B/memtouch" "$R/bin/memtouch"
  cp "$B/ocprobe" "$R/bin/ocprobe"
  cp "$B/vmprobe" "$R/bin/vmprobe"
  cp "$HERE/src/init.sh" "$R/init"; chmod +x "$R/init"
  M="$B/kroot/lib/modules/$KVER/kernel"
  for m in drivers/virtio/virtio.ko drivers/virtio/virtio_ring.ko drivers/virtio/virtio_pci_legacy_dev.ko \
           drivers/virtio/virtio_pci_modern_dev.ko drivers/virtio/virtio_pci.ko drivers/block/virtio_blk.ko; do
    cp "$M/$m" "$R/lib/modules/"
  done
  # ext2 via the ext4 driver (CONFIG_EXT4_USE_FOR_EXT2) for the page-cache data disk
  for m in lib/crc16.ko fs/mbcache.ko crypto/crc32c_generic.ko fs/jbd2/jbd2.ko fs/ext4/ext4.ko; do
    cp "$M/$m" "$R/lib/modules/"
  done
  cp "$B/vmlayout/vmlayout.ko" "$R/lib/modules/"
  mknod -m 600 "$R/dev/console" c 5 1 2>/dev/null || true
  ( cd "$R" && find . | cpio -o -H newc --quiet | gzip -9 > "$B/initramfs.cpio.gz" )
  ls -l "$B/vmlinuz" "$B/initramfs.cpio.gz"
}

# boot NAME MEM_MiB SWAP_MiB(0=none) EXTRA_CMDLINE...
#   EXTRA may hold datadisk=N: attach an N MiB ext2 image (made here with mkfs.ext2) as the next virtio disk
boot() {
  local name=$1 mem=$2 swap=$3; shift 3
  local extra="$*" disk=()
  if [ "$swap" -gt 0 ]; then
    rm -f "$B/swap-$name.img"; truncate -s "${swap}M" "$B/swap-$name.img"
    disk=(-drive "file=$B/swap-$name.img,if=virtio,format=raw,cache=unsafe")
  fi
  local dd; dd=$(echo "$extra" | sed -n 's/.*datadisk=\([0-9]*\).*/\1/p')
  if [ -n "$dd" ]; then
    rm -f "$B/data-$name.img"; truncate -s "${dd}M" "$B/data-$name.img"
    mkfs.ext2 -q -F -L data -b 4096 -m 0 "$B/data-$name.img"
    disk+=(-drive "file=$B/data-$name.img,if=virtio,format=raw,cache=unsafe")
  fi
  local acc=(-accel tcg)
  [ "$ACCEL" = kvm ] && acc=(-accel kvm)
  local cmd=(qemu-system-i386 "${acc[@]}" -M pc -cpu qemu32 -smp 1 -m "$mem" -nographic -no-reboot
             -kernel "$B/vmlinuz" -initrd "$B/initramfs.cpio.gz" "${disk[@]}"
             -append "console=ttyS0 nokaslr panic=-1 scen=${name%%-*} $extra")
  echo ">>> $name: ${cmd[*]}"
  local t0=$(date +%s)
  { echo "### host command: ${cmd[*]}"; echo "### accel=$ACCEL started $(date -u +%FT%TZ)"; } > "$OUT/$name.log"
  timeout "$TIMEOUT" "${cmd[@]}" < /dev/null >> "$OUT/$name.log" 2>&1 || echo "### qemu rc=$?" >> "$OUT/$name.log"
  echo "### wall=$(( $(date +%s) - t0 ))s" >> "$OUT/$name.log"
  tr -d '\r' < "$OUT/$name.log" > "$OUT/$name.log.tmp" && mv "$OUT/$name.log.tmp" "$OUT/$name.log"
  rm -f "$B/swap-$name.img" "$B/data-$name.img"
  grep -q "ANCHOR done" "$OUT/$name.log" && echo "    ok ($(tail -1 "$OUT/$name.log"))" || echo "    !! no 'ANCHOR done' marker in $OUT/$name.log"
}

# name            mem  swap extra-cmdline
SCENARIOS='
base-256m         256  0
base-1g           1024 0
base-1g-4k        1024 0    transparent_hugepage=never
base-2g           2048 0
a-1g-4k           1024 0    transparent_hugepage=never
a-1g-thp          1024 0
b-1g-4k           1024 0    transparent_hugepage=never
b-1g-thp          1024 0
c-256m-swap-4k    256  256  transparent_hugepage=never
c-256m-swap-thp   256  256
c-1g-swap-4k      1024 256  transparent_hugepage=never
base-256m-4k      256  0    transparent_hugepage=never
base-2g-4k        2048 0    transparent_hugepage=never
base-3g-4k        3072 0    transparent_hugepage=never
base-4g-4k        4096 0    transparent_hugepage=never
d-1g-4k           1024 0    transparent_hugepage=never
d-256m-swap-4k    256  256  transparent_hugepage=never vmswap=1
e-256m-4k         256  0    transparent_hugepage=never
f-1g-4k           1024 0    transparent_hugepage=never
g-2g-4k           2048 0    transparent_hugepage=never
h-256m-swap-4k    256  256  transparent_hugepage=never vmswap=1
i-1g-4k           1024 0    transparent_hugepage=never
j-2g-4k           2048 0    transparent_hugepage=never
cow-1g-4k         1024 0    transparent_hugepage=never
cowp-256m-swap-4k 256  256  transparent_hugepage=never vmswap=1
cowsh-256m-swap-4k 256 256  transparent_hugepage=never vmswap=1
cowsh150-256m-swap-4k 256 256 transparent_hugepage=never vmswap=1
cowsh-256m-swap512-4k 256 512 transparent_hugepage=never vmswap=1
shanon-1g-4k      1024 0    transparent_hugepage=never
shm-1g-4k         1024 0    transparent_hugepage=never
pcache-256m-disk-4k   256 256 transparent_hugepage=never vmswap=1 datadisk=512
swpy0-256m-disk-4k    256 256 transparent_hugepage=never vmswap=1 datadisk=512
swpy60-256m-disk-4k   256 256 transparent_hugepage=never vmswap=1 datadisk=512
swpy100-256m-disk-4k  256 256 transparent_hugepage=never vmswap=1 datadisk=512
'

run_one() {
  local line; line=$(echo "$SCENARIOS" | awk -v n="$1" '$1==n')
  [ -n "$line" ] || { echo "unknown scenario $1" >&2; exit 1; }
  boot $line
}

if [ "${1:-}" = build ]; then build; exit 0; fi
if [ "${1:-}" = initramfs ]; then mkinitramfs; exit 0; fi
built_kernel() { ls "$B"/debs/${KPKG}_*_i386.deb >/dev/null 2>&1; }
[ -f "$B/initramfs.cpio.gz" ] && [ -f "$B/vmlinuz" ] && built_kernel && [ $# -gt 0 ] || build
if [ $# -gt 0 ]; then
  for s in "$@"; do run_one "$s"; done
else
  for s in $(echo "$SCENARIOS" | awk 'NF{print $1}'); do run_one "$s"; done
fi
python3 "$HERE/summarize.py" "$OUT" > "$OUT/summary-generated.md" && echo "wrote $OUT/summary-generated.md"
# the vmprobe scenarios' VP lines as tables (run from $OUT so each heading is the bare log name)
( cd "$OUT" && vplogs=$(grep -l '^VP scenario' -- *.log || true) && [ -n "$vplogs" ] && \
  python3 "$HERE/vptables.py" $vplogs > vptables-generated.md && echo "wrote $OUT/vptables-generated.md" ) || true
